package scenarios

import (
	"fmt"
	"testing"
)

func TestCase(t *testing.T) {
	a := Axes{"bing", "resnet", "50/50"}
	for _, tc := range []struct {
		v    Axes
		want int
	}{
		{Axes{"bing", "resnet", "50/50"}, 1},
		{Axes{"bing", "resnet", "20/80"}, 2},
		{Axes{"bing", "vgg", "50/50"}, 3},
		{Axes{"bing", "vgg", "20/80"}, 4},
		{Axes{"google", "resnet", "50/50"}, 5},
		{Axes{"google", "resnet", "20/80"}, 6},
		{Axes{"google", "vgg", "50/50"}, 7},
		{Axes{"google", "vgg", "20/80"}, 8},
	} {
		if got := Case(a, tc.v); got != tc.want {
			t.Errorf("Case(%v, %v) = %d, want %d", a, tc.v, got, tc.want)
		}
	}
}

// §8's testbed: 2 sources × 3 architectures × 4 balances, every model
// attacking every model, gives 576 pairs in the counts 24, 72, 48, 144,
// 24, 72, 48, 144.
func TestCaseCounts(t *testing.T) {
	var pool []Axes
	for _, s := range []string{"bing", "google"} {
		for _, m := range []string{"alexnet", "resnet18", "vgg11"} {
			for _, b := range []string{"50/50", "40/60", "30/70", "20/80"} {
				pool = append(pool, Axes{s, m, b})
			}
		}
	}
	got := CaseCounts(pool, pool)
	want := [9]int{0, 24, 72, 48, 144, 24, 72, 48, 144}
	if got != want {
		t.Fatalf("counts %v, want %v", got, want)
	}
	total := 0
	for _, n := range got {
		total += n
	}
	if total != 576 {
		t.Fatalf("%d pairs", total)
	}
	// Per attacker: C1=1, C2=3, C3=2, C4=6, C5=1, C6=3, C7=2, C8=6.
	per := CaseCounts(pool[:1], pool)
	if fmt.Sprint(per[1:]) != "[1 3 2 6 1 3 2 6]" {
		t.Errorf("per attacker %v", per[1:])
	}
}
