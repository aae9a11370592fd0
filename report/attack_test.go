package report

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/metrics"
)

// onehot returns logits (n×k) whose argmax is pred[i].
func onehot(pred []int, k int) []float32 {
	z := make([]float32, len(pred)*k)
	for i, p := range pred {
		z[i*k+p] = 1
	}
	return z
}

func TestAttackResultJSON(t *testing.T) {
	s, _ := metrics.ScoreVictim(onehot([]int{0, 1}, 2), onehot([]int{1, 1}, 2), []int{0, 1}, nil, 2)
	r := AttackResult{Schema: SchemaVersion, Attack: "fgsm", Victims: []VictimResult{{Scores: s}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"asr_all":{"num":1,"den":2`, `"asr_on_correct":{"num":1,"den":2`, `"asr_ratio":{"num":1,"den":2,"defined":true`, `"clean_accuracy"`, `"adv_accuracy"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
	if strings.Contains(string(b), "targeted_success") || strings.Contains(string(b), `"quantized"`) {
		t.Errorf("optional fields present: %s", b)
	}
}
