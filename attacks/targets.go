package attacks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/advmatrix/advmatrix/models"
)

// TargetMode says how a targeted attack's targets are chosen. The choice
// is made once, before crafting (RandomTargets, LeastLikelyTargets), and
// handed to attacks as Batch.Targets, so that results can record it and
// every attack sees the same targets.
type TargetMode int

const (
	Untargeted   TargetMode = iota
	TargetGiven             // from the user, one per image
	TargetRandom            // a seeded random class other than the label
	TargetLeast             // the class the surrogates rank lowest on the clean image
)

var targetModeNames = []string{"none", "given", "random", "least"}

func (m TargetMode) String() string {
	if m >= 0 && int(m) < len(targetModeNames) {
		return targetModeNames[m]
	}
	return fmt.Sprintf("TargetMode(%d)", int(m))
}

// ParseTargetMode reads none, given, random or least.
func ParseTargetMode(s string) (TargetMode, error) {
	for i, name := range targetModeNames {
		if strings.EqualFold(s, name) {
			return TargetMode(i), nil
		}
	}
	return 0, fmt.Errorf("targeted %q: want none, random, least or given", s)
}

// RandomTargets draws, for each image, a class other than its label,
// uniformly, from a source seeded by seed alone (so the targets of a run
// do not depend on how it is batched). It needs k ≥ 2 (CheckTargets).
func RandomTargets(labels []int, k int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x74617267)) // "targ"
	t := make([]int, len(labels))
	for i, y := range labels {
		t[i] = (y + 1 + rng.IntN(max(k-1, 1))) % k
	}
	return t
}

// CheckTargets validates targets chosen before crafting: one per image,
// within the k classes, never an image's own label (a "targeted" attack
// that aims at the true class reports success for doing nothing).
func CheckTargets(targets, labels []int, k int) error {
	if k < 2 {
		return fmt.Errorf("a targeted attack needs at least 2 classes, the models output %d", k)
	}
	if len(targets) != len(labels) {
		return fmt.Errorf("%d targets for %d images", len(targets), len(labels))
	}
	for i, t := range targets {
		switch {
		case t < 0 || t >= k:
			return fmt.Errorf("target %d of image %d is outside [0, %d)", t, i, k)
		case t == labels[i]:
			return fmt.Errorf("target %d of image %d is its own label: a targeted attack aims at another class", t, i)
		}
	}
	return nil
}

// LeastLikelyTargets picks for each image the class other than its label
// with the lowest summed surrogate logit on the clean image (the first on
// ties), evaluating batch images at a time.
func LeastLikelyTargets(ctx context.Context, ms []models.Classifier, x []float32, labels []int, batch int) ([]int, error) {
	n := len(labels)
	if len(ms) == 0 || n == 0 || len(x)%n != 0 {
		return nil, fmt.Errorf("least-likely targets need surrogates and whole images")
	}
	k := ms[0].NumClasses()
	if k < 2 {
		return nil, fmt.Errorf("least-likely targets need at least 2 classes, the surrogates have %d", k)
	}
	size := len(x) / n
	batch = max(batch, 1)
	t := make([]int, n)
	sum := make([]float32, min(batch, n)*k)
	z := make([]float32, len(sum))
	for i := 0; i < n; i += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		j := min(n, i+batch)
		s, zb := sum[:(j-i)*k], z[:(j-i)*k]
		clear(s)
		for _, m := range ms {
			if err := m.Logits(zb, x[i*size:j*size]); err != nil {
				return nil, err
			}
			for q, v := range zb {
				s[q] += v
			}
		}
		for r := 0; r < j-i; r++ {
			row, y := s[r*k:(r+1)*k], labels[i+r]
			best := -1
			for c, v := range row {
				if c != y && (best < 0 || v < row[best]) {
					best = c
				}
			}
			t[i+r] = best
		}
	}
	return t, nil
}
