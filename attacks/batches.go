package attacks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/advmatrix/advmatrix/models"
)

// ErrInternal marks errors that are advmatrix's fault rather than the
// input's: the CLI exits 3 for them and 2 for bad input.
var ErrInternal = errors.New("internal error")

// BatchSeedRule states how CraftInBatches seeds each batch, for results
// files.
const BatchSeedRule = "batch b (from 0) of a run with seed s is crafted with seed splitmix64(splitmix64(s) xor b)"

// BatchSeed is the seed batch b of a run seeded with seed is crafted with.
// It hashes both, so that runs with nearby seeds share no batch seeds
// (with seed + b, seeds 0 and 1 would share all but one).
func BatchSeed(seed uint64, b int) uint64 { return splitmix64(splitmix64(seed) ^ uint64(b)) }

// splitmix64 is the finaliser of Steele, Lea and Flood's SplitMix64
// generator: a bijection of uint64 that mixes every input bit into every
// output bit.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// CraftInBatches crafts the images of b size images at a time, batch i
// (from 0) with seed BatchSeed(b.Seed, i), so that the result depends on
// the batch size (as attacks with per-batch statistics such as AdaEA and
// CWA do) but not on anything else. done, when not nil, is told the number
// of images finished after each batch.
func CraftInBatches(ctx context.Context, a Attack, ms []models.Classifier, b Batch, size int, done func(images int)) ([]float32, error) {
	adv, _, err := CraftInBatchesStats(ctx, a, ms, b, size, done)
	return adv, err
}

// statsCrafter is an attack that reports diagnostics of its own (AdaEA's
// DRF masked fraction, CWA's zero-gradient counts) for a batch: counts add
// up over batches, "_fraction" and "_mean" values are averaged weighted by
// the batch's images.
type statsCrafter interface {
	craftStats(ctx context.Context, ms []models.Classifier, b Batch) ([]float32, map[string]float64, error)
}

// CraftInBatchesStats is CraftInBatches that also returns the attack's own
// diagnostics over all batches, when it has any (nil otherwise).
func CraftInBatchesStats(ctx context.Context, a Attack, ms []models.Classifier, b Batch, size int, done func(images int)) ([]float32, map[string]float64, error) {
	n := len(b.Labels)
	if size <= 0 {
		return nil, nil, fmt.Errorf("batch size %d must be positive", size)
	}
	if n == 0 || len(b.X)%n != 0 {
		return nil, nil, fmt.Errorf("%d values for %d labels", len(b.X), n)
	}
	if b.Targets != nil && len(b.Targets) != n {
		return nil, nil, fmt.Errorf("%d targets for %d images", len(b.Targets), n)
	}
	per := len(b.X) / n
	adv := make([]float32, len(b.X))
	sc, hasStats := a.(statsCrafter)
	var stats map[string]float64
	for k, i := 0, 0; i < n; k, i = k+1, i+size {
		j := min(n, i+size)
		part := Batch{X: b.X[i*per : j*per], Labels: b.Labels[i:j], Seed: BatchSeed(b.Seed, k)}
		if b.Targets != nil {
			part.Targets = b.Targets[i:j]
		}
		var out []float32
		var err error
		if hasStats {
			var st map[string]float64
			out, st, err = sc.craftStats(ctx, ms, part)
			stats = addStats(stats, st, float64(j-i)/float64(n))
		} else {
			out, err = a.Craft(ctx, ms, part)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("images %d-%d: %w", i, j-1, err)
		}
		if len(out) != len(part.X) {
			return nil, nil, fmt.Errorf("%w: %d values returned for %d images", ErrInternal, len(out), j-i)
		}
		copy(adv[i*per:], out)
		if done != nil {
			done(j - i)
		}
	}
	return adv, stats, nil
}

// addStats accumulates one batch's diagnostics: counts add, fractions and
// means are weighted by the batch's share w of the images.
func addStats(acc, st map[string]float64, w float64) map[string]float64 {
	if st == nil {
		return acc
	}
	if acc == nil {
		acc = map[string]float64{}
	}
	for k, v := range st {
		if strings.HasSuffix(k, "_fraction") || strings.HasSuffix(k, "_mean") {
			acc[k] += w * v
		} else {
			acc[k] += v
		}
	}
	return acc
}
