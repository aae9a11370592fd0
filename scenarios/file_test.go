package scenarios

import (
	"errors"
	"strings"
	"testing"
)

const goodScenario = `name: tiny
seed: 3
limit: 24
batch: 8
sources:
  mnist: mnist:test
models:
  - {name: a, file: "zoo:digits/mnist_lenet_b50", source: mnist, arch: lenet, balance: "50/50"}
  - {name: b, file: "zoo:digits/mnist_mlp_b50", source: mnist, arch: mlp, balance: "50/50"}
surrogates:
  - {name: ens, members: [a, b]}
budget: {eps: 0.1, steps: 2, alpha: 0.05}
attacks:
  - attack: ifgsm
    eps: [0.05, 0.1]
  - attack: boxblur
    select_strength: {grid: [0.5, 1], ssim_min: 0.4}
matrix: dumb
`

func TestParseGood(t *testing.T) {
	f, err := Parse("tiny.yaml", []byte(goodScenario))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(f, "tiny.yaml", []byte(goodScenario))
	if err != nil {
		t.Fatal(err)
	}
	// 3 attackers (a, b, ens) × (2 ε + 1 selection) = 9 cells of 2 victims.
	if len(p.Cells) != 9 || len(p.Attack) != 3 || len(p.Cells[0].Victims) != 2 {
		t.Fatalf("%d cells, %d attackers", len(p.Cells), len(p.Attack))
	}
	if ens := p.Attack[2]; ens.Arch != "lenet+mlp" || ens.Source != "mnist" || ens.Balance != "50/50" {
		t.Errorf("ensemble axes %+v", ens.Axes)
	}
	if c := p.Cells[0]; c.Eps != 0.05 || c.Params.Steps != 2 || c.Params.Alpha != 0.05 {
		t.Errorf("first cell %+v", c.Params)
	}
}

// Bad scenarios fail with the file, the line and the key.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, edit, want string
	}{
		{"unknown top-level key", "matrix: dumb\ncolour: red\n", `tiny.yaml:19: unknown key "colour" in the top level`},
		{"unknown model key", `  - {name: a, file: "zoo:digits/mnist_lenet_b50", source: mnist, arch: lenet, balance: "50/50", size: 3}`, `tiny.yaml:8: unknown key "size" in models[0]`},
		{"wrong type", "limit: lots", `tiny.yaml:3: limit: "lots" is not a whole number`},
		{"list for a number", "seed: [1, 2]", "tiny.yaml:2: seed must be a single value"},
		{"duplicate model", `  - {name: a, file: "zoo:digits/mnist_mlp_b50", source: mnist, arch: mlp, balance: "50/50"}`, `the name "a" is used twice`},
		{"typo in a member", "  - {name: ens, members: [a, bb]}", `tiny.yaml:11: surrogate ens: unknown member "bb" (did you mean "b"?)`},
		{"member is a surrogate", "  - {name: ens, members: [a, ens]}", `member "ens" is a surrogate`},
		{"unknown source", `  - {name: a, file: "zoo:digits/mnist_lenet_b50", source: msnit, arch: lenet, balance: "50/50"}`, `unknown source "msnit"`},
		{"unknown attack", "  - attack: ifgms", `unknown attack "ifgms"`},
		{"bad param", "  - attack: ifgsm\n    params: {restarts: 1e9}", "restarts=1e+09"},
		{"selection with eps", "  - attack: ifgsm\n    eps: 0.1\n    select_strength: true", "select_strength chooses eps"},
		{"duplicate eps", "    eps: [0.05, 0.05]", "eps 0.05 is listed twice"},
		{"bad matrix", "matrix: all", `matrix "all"`},
		{"unknown attacker", "attackers: [a, c]", `attackers: unknown "c"`},
		{"surrogate victim", "victims: [ens]", "victims are single models"},
		{"bad yaml", "models: [", "tiny.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := editScenario(tc.edit)
			_, err := Parse("tiny.yaml", []byte(text))
			if err == nil {
				t.Fatalf("no error for\n%s", text)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want one containing %q", err, tc.want)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.File != "tiny.yaml" {
				t.Errorf("error %T does not name the file", err)
			}
		})
	}
}

func TestParseEmptyPool(t *testing.T) {
	text := "sources: {mnist: mnist:test}\nmodels: []\nattacks: [{attack: fgsm}]\n"
	if _, err := Parse("e.yaml", []byte(text)); err == nil || !strings.Contains(err.Error(), "e.yaml: empty model pool") {
		t.Errorf("error %v", err)
	}
}

// editScenario replaces the good scenario's line that starts like the
// edit (same key, or the same list item), or appends the edit.
func editScenario(edit string) string {
	lines := strings.Split(goodScenario, "\n")
	first := strings.Split(edit, "\n")[0]
	key := first
	if i := strings.IndexAny(first, ":"); i > 0 {
		key = first[:i+1]
	}
	if strings.HasPrefix(first, "  - {name: ") {
		key = first[:strings.Index(first, ",")]
	}
	if strings.HasPrefix(first, "  - attack:") {
		// Replace the first attack.
		for i, l := range lines {
			if strings.HasPrefix(l, "  - attack: ifgsm") {
				lines[i] = edit
				lines = append(lines[:i+1], lines[i+2:]...)
				return strings.Join(lines, "\n")
			}
		}
	}
	for i, l := range lines {
		if strings.HasPrefix(l, key) && !strings.HasPrefix(edit, "matrix: dumb\n") {
			if strings.HasPrefix(first, "  - {name: a,") && strings.Contains(edit, "mnist_mlp_b50") {
				lines[i+1] = edit // a second "a"
			} else {
				lines[i] = edit
			}
			return strings.Join(lines, "\n")
		}
	}
	return strings.Replace(goodScenario, "matrix: dumb\n", edit, 1)
}
