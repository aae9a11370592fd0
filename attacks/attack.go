package attacks

import (
	"context"
	"fmt"

	"github.com/advmatrix/advmatrix/models"
)

// Attack crafts adversarial examples, as torchattacks' attack(x, y) does:
//
//	adv, err := attacks.PGD(0.3, 0.01, 40).Craft(ctx, surrogates, attacks.Batch{X: x, Labels: y})
//
// An Attack holds only settings, so one value serves any number of
// batches, concurrently; what varies per call (the images, their labels
// and targets, the seed) is the Batch.
type Attack interface {
	// Craft returns adversarial versions of b's images, crafted on the
	// surrogates (an ensemble when there are several). It does not modify
	// b. When ctx is done it stops between steps and returns ctx's error.
	Craft(ctx context.Context, surrogates []models.Classifier, b Batch) ([]float32, error)
}

// Batch is what one Craft call attacks.
type Batch struct {
	// X holds n images, float32 N×C×H×W in [0,1], the surrogates' shape.
	X []float32
	// Labels are the n true classes.
	Labels []int
	// Targets, when not nil, makes the attack targeted: one class per
	// image for it to be classified as (chosen beforehand: see
	// RandomTargets and LeastLikelyTargets). A target equal to its label
	// is refused.
	Targets []int
	// Seed drives every random choice of the call (random starts, input
	// diversity, Square's proposals, noise): the same Batch gives the same
	// bytes.
	Seed uint64
}

// Targeted reports whether the batch has targets.
func (b Batch) Targeted() bool { return b.Targets != nil }

// batchInfo is a Batch checked against its surrogates.
type batchInfo struct {
	shape   []int
	size    int   // values per image
	n, k    int   // images, classes
	goal    []int // labels the loss is computed against: the true labels or the targets
	targets bool
}

// check validates b against the surrogates: image count and shape, labels
// and targets within the classes, targets other than the labels. square
// also requires square images (input diversity).
func (b Batch) check(ms []models.Classifier, square bool) (batchInfo, error) {
	var bi batchInfo
	if len(ms) == 0 {
		return bi, fmt.Errorf("no surrogate models")
	}
	bi.shape = ms[0].InputShape()
	bi.size = 1
	for _, d := range bi.shape {
		bi.size *= d
	}
	bi.n = len(b.Labels)
	if bi.n == 0 || len(b.X) != bi.n*bi.size {
		return bi, fmt.Errorf("%d values for %d labels of %v images", len(b.X), bi.n, bi.shape)
	}
	if C, H, W := shapeCHW(bi.shape); square && (H != W || C*H*W != bi.size) {
		return bi, fmt.Errorf("input diversity needs square images, have %v", bi.shape)
	}
	bi.k = ms[0].NumClasses()
	for i, l := range b.Labels {
		if l < 0 || l >= bi.k {
			return bi, fmt.Errorf("label %d of image %d is outside [0, %d)", l, i, bi.k)
		}
	}
	bi.goal = b.Labels
	if b.Targets != nil {
		if len(b.Targets) != bi.n {
			return bi, fmt.Errorf("%d targets for %d images", len(b.Targets), bi.n)
		}
		for i, t := range b.Targets {
			if t < 0 || t >= bi.k {
				return bi, fmt.Errorf("target %d of image %d is outside [0, %d)", t, i, bi.k)
			}
			if t == b.Labels[i] {
				return bi, fmt.Errorf("target %d of image %d is its own label: a targeted attack aims at another class", t, i)
			}
		}
		bi.goal, bi.targets = b.Targets, true
	}
	return bi, nil
}
