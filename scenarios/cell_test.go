package scenarios

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/advmatrix/advmatrix/attacks"
	"github.com/advmatrix/advmatrix/models"
)

// plain hides everything of a model but the Classifier interface, as a
// wrapper of the user's (or a defense's) would.
type plain struct{ m models.Classifier }

func (p plain) InputShape() []int             { return p.m.InputShape() }
func (p plain) NumClasses() int               { return p.m.NumClasses() }
func (p plain) Logits(dst, x []float32) error { return p.m.Logits(dst, x) }
func (p plain) Grad(dx, x []float32, c func(z, dz []float32)) error {
	return p.m.Grad(dx, x, c)
}

func open(t *testing.T, specs ...string) []Model {
	t.Helper()
	var out []Model
	for _, s := range specs {
		m, err := OpenModel(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func runCell(t *testing.T, attack string, surr, victims []Model) *Outcome {
	t.Helper()
	spec, err := attacks.Lookup(attack)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cell{Attack: spec, Params: attacks.Params{Steps: 3, Set: map[string]bool{"steps": true}},
		Surrogates: surr, Victims: victims, Seed: 4, Batch: 16}
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	if c.Data, err = OpenData("mnist:test", surr[0].InputShape(), 40, false, 0); err != nil {
		t.Fatal(err)
	}
	out, err := c.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A Classifier that is not a *models.Model works as a surrogate and as a
// victim, and gives the same examples and scores as the model it wraps
// (ensembles fall back from the held forward pass to Logits and Grad).
func TestCellWithPlainClassifiers(t *testing.T) {
	for _, attack := range []string{"mifgsm", "mi-cwa", "adaea"} {
		models := open(t, "zoo:digits/mnist_lenet_b50", "zoo:digits/mnist_mlp_b50", "zoo:lenet-mnist")
		wrapped := make([]Model, len(models))
		for i, m := range models {
			wrapped[i] = Model{Classifier: plain{m.Classifier}, Ref: m.Ref}
		}
		want := runCell(t, attack, models[:2], models[2:])
		got := runCell(t, attack, wrapped[:2], wrapped[2:])
		for i := range want.Adv {
			if want.Adv[i] != got.Adv[i] {
				t.Fatalf("%s: adversarial value %d is %v through the wrappers, %v directly", attack, i, got.Adv[i], want.Adv[i])
			}
		}
		a, _ := json.Marshal(want.Result.Victims)
		b, _ := json.Marshal(got.Result.Victims)
		if string(a) != string(b) {
			t.Errorf("%s: victim scores differ:\n%s\n%s", attack, a, b)
		}
		if got.Result.SurrogateGradEvals != want.Result.SurrogateGradEvals {
			t.Errorf("%s: %d gradient evaluations through the wrappers, %d directly", attack, got.Result.SurrogateGradEvals, want.Result.SurrogateGradEvals)
		}
	}
}

func TestCellCheck(t *testing.T) {
	spec, _ := attacks.Lookup("fgsm")
	lenet := open(t, "zoo:lenet-mnist")[0]
	for _, tc := range []struct {
		name string
		cell Cell
		want string
	}{
		{"no surrogates", Cell{Attack: spec, Batch: 8}, "at least one surrogate"},
		{"no batch", Cell{Attack: spec, Surrogates: []Model{lenet}}, "batch 0"},
		{"victim of other classes", Cell{Attack: spec, Batch: 8, Surrogates: []Model{lenet},
			Victims: []Model{{Classifier: fewClasses{lenet}, Ref: lenet.Ref}}}, "outputs 3 classes"},
	} {
		err := tc.cell.Check()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

type fewClasses struct{ Model }

func (fewClasses) NumClasses() int { return 3 }
