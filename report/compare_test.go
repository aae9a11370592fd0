package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/metrics"
)

// Comparisons appear, pooled rows only, in the text, Markdown and HTML
// reports, and nowhere when there are none.
func TestComparisonsRendered(t *testing.T) {
	r := htmlFixture(3, []float64{0.1})
	d, _ := metrics.NewPairedDiff([]bool{true, true, false, false}, []bool{false, true, false, false}, nil)
	r.Comparisons = []Comparison{
		{Model: "pruned<x>", Baseline: "orig", Attack: "ifgsm", Eps: 0.1, Attackers: 2, Delta: d, DeltaP: 1},
		{Model: "pruned<x>", Baseline: "orig", Attack: "ifgsm", Eps: 0.1, Attacker: "a", Attackers: 1, Delta: d, DeltaP: 1},
	}
	var text, md bytes.Buffer
	if err := WriteScenarioText(&text, r); err != nil {
		t.Fatal(err)
	}
	WriteScenarioMarkdown(&md, r)
	page := string(renderHTML(t, r))
	for name, out := range map[string]string{"text": text.String(), "markdown": md.String(), "html": page} {
		if strings.Count(out, "25.00 pp (") != 1 {
			t.Errorf("%s: the pooled row shows %d times:\n%s", name, strings.Count(out, "25.00 pp ("), out)
		}
	}
	if !strings.Contains(page, `id="compare"`) || !strings.Contains(page, "pruned&lt;x&gt;") {
		t.Error("no escaped compare section in the HTML page")
	}
	r.Comparisons = nil
	text.Reset()
	_ = WriteScenarioText(&text, r)
	if strings.Contains(text.String(), "Δ-robustness") || strings.Contains(string(renderHTML(t, r)), `id="compare"`) {
		t.Error("a compare section without comparisons")
	}
}
