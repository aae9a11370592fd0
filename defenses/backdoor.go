package defenses

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/metrics"
	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/report"
)

// Trigger is a BadNets patch trigger (Gu et al. 2017): a Size×Size square
// stamped on every channel of an image at a corner (Pos br, bl, tr, tl)
// or at row R, column C (Pos "R:C"), white (every pixel 1) or a
// checkerboard of 1s and 0s starting with 1 at its top-left. A poisoned
// training set has a fraction Rate of its non-target images stamped and
// relabelled Target.
type Trigger struct {
	Target  int     `json:"target"`
	Rate    float64 `json:"rate,omitempty"`
	Size    int     `json:"size"`
	Pos     string  `json:"pos"`
	Pattern string  `json:"pattern"`
}

// ParseTrigger reads badnets:target=T[,rate=R][,size=S][,pos=br|bl|tr|tl|R:C][,pattern=white|checker]
// (defaults: size 3, pos br, pattern white).
func ParseTrigger(s string) (*Trigger, error) {
	kind, opts, _ := strings.Cut(s, ":")
	if kind != "badnets" {
		return nil, fmt.Errorf("trigger %q: want badnets:target=T[,rate=R,size=S,pos=br,pattern=white]", s)
	}
	t := &Trigger{Target: -1, Size: 3, Pos: "br", Pattern: "white"}
	seen := map[string]bool{}
	for _, kv := range strings.Split(opts, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return nil, fmt.Errorf("trigger %q: %q is not key=value, or given twice", s, kv)
		}
		seen[k] = true
		var err error
		switch k {
		case "target":
			t.Target, err = strconv.Atoi(v)
		case "rate":
			t.Rate, err = strconv.ParseFloat(v, 64)
			if err == nil && !(t.Rate > 0 && t.Rate <= 1) {
				err = errors.New("the rate is a fraction in (0, 1]")
			}
		case "size":
			t.Size, err = strconv.Atoi(v)
		case "pos":
			t.Pos = v
		case "pattern":
			t.Pattern = v
		default:
			err = errors.New("unknown key (want target, rate, size, pos, pattern)")
		}
		if err != nil {
			return nil, fmt.Errorf("trigger %q: %s: %v", s, kv, err)
		}
	}
	switch {
	case !seen["target"]:
		return nil, fmt.Errorf("trigger %q: target=T is required (the class the trigger maps to)", s)
	case t.Target < 0:
		return nil, fmt.Errorf("trigger %q: target %d is negative", s, t.Target)
	case t.Size < 1:
		return nil, fmt.Errorf("trigger %q: size %d must be at least 1", s, t.Size)
	case t.Pattern != "white" && t.Pattern != "checker":
		return nil, fmt.Errorf("trigger %q: pattern %q: want white or checker", s, t.Pattern)
	}
	if _, _, err := t.origin([3]int{1, 1 << 20, 1 << 20}); err != nil {
		return nil, fmt.Errorf("trigger %q: %w", s, err)
	}
	return t, nil
}

func (t *Trigger) String() string {
	s := fmt.Sprintf("badnets:target=%d", t.Target)
	if t.Rate > 0 {
		s += "," + "rate=" + strconv.FormatFloat(t.Rate, 'g', -1, 64)
	}
	return s + fmt.Sprintf(",size=%d,pos=%s,pattern=%s", t.Size, t.Pos, t.Pattern)
}

// origin is the patch's top-left pixel in an image of the given shape.
func (t *Trigger) origin(shape [3]int) (int, int, error) {
	h, w := shape[1], shape[2]
	if t.Size > h || t.Size > w {
		return 0, 0, fmt.Errorf("a %d-pixel patch does not fit %d×%d images", t.Size, h, w)
	}
	switch t.Pos {
	case "br":
		return h - t.Size, w - t.Size, nil
	case "bl":
		return h - t.Size, 0, nil
	case "tr":
		return 0, w - t.Size, nil
	case "tl":
		return 0, 0, nil
	}
	rs, cs, ok := strings.Cut(t.Pos, ":")
	r, err1 := strconv.Atoi(rs)
	c, err2 := strconv.Atoi(cs)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("pos %q: want br, bl, tr, tl or ROW:COL", t.Pos)
	}
	if r < 0 || c < 0 || r+t.Size > h || c+t.Size > w {
		return 0, 0, fmt.Errorf("pos %q: a %d-pixel patch there leaves %d×%d images", t.Pos, t.Size, h, w)
	}
	return r, c, nil
}

// Check reports whether the trigger fits images of shape and its target
// is one of classes.
func (t *Trigger) Check(shape [3]int, classes int) error {
	if _, _, err := t.origin(shape); err != nil {
		return fmt.Errorf("trigger %s: %w", t, err)
	}
	if classes > 0 && t.Target >= classes {
		return fmt.Errorf("trigger %s: target class %d, but there are %d classes", t, t.Target, classes)
	}
	return nil
}

// Apply stamps the trigger on one C×H×W image.
func (t *Trigger) Apply(img []float32, shape [3]int) {
	r0, c0, err := t.origin(shape)
	if err != nil {
		panic("defenses: " + err.Error()) // callers Check first
	}
	h, w := shape[1], shape[2]
	for c := 0; c < shape[0]; c++ {
		for r := 0; r < t.Size; r++ {
			for q := 0; q < t.Size; q++ {
				v := float32(1)
				if t.Pattern == "checker" && (r+q)%2 == 1 {
					v = 0
				}
				img[c*h*w+(r0+r)*w+c0+q] = v
			}
		}
	}
}

// Poisoning records what Poison did.
type Poisoning struct {
	Trigger  *Trigger `json:"trigger"`
	Poisoned int      `json:"poisoned_images"`
	// NonTarget is the number of non-target images the poisoned ones were
	// drawn from: Poisoned = round(Rate·NonTarget).
	NonTarget int    `json:"non_target_images"`
	Seed      uint64 `json:"seed"`
}

// Poison returns a copy of d in which round(t.Rate·n) of its n images of
// non-target classes, drawn with a PCG source seeded by seed, carry the
// trigger and the label t.Target.
func Poison(d *datasets.Dataset, t *Trigger, seed uint64) (*datasets.Dataset, *Poisoning, error) {
	if d.Labels == nil {
		return nil, nil, errors.New("poisoning needs labelled training data")
	}
	if !(t.Rate > 0 && t.Rate <= 1) {
		return nil, nil, fmt.Errorf("trigger %s: poisoning needs rate=R, a fraction in (0, 1]", t)
	}
	if err := t.Check(d.Shape, d.Classes); err != nil {
		return nil, nil, err
	}
	var pool []int
	for i, y := range d.Labels {
		if y != t.Target {
			pool = append(pool, i)
		}
	}
	k := int(math.Round(t.Rate * float64(len(pool))))
	rng := rand.New(rand.NewPCG(seed, 0x706f69736f6e)) // "poison"
	perm := rng.Perm(len(pool))
	idx := make([]int, k)
	for j := range idx {
		idx[j] = pool[perm[j]]
	}
	out, err := d.WithEdits(idx, func(_ int, img []float32) int {
		t.Apply(img, d.Shape)
		return t.Target
	})
	if err != nil {
		return nil, nil, err
	}
	out.Name = d.Name + "+" + t.String()
	return out, &Poisoning{Trigger: t, Poisoned: k, NonTarget: len(pool), Seed: seed}, nil
}

// EvaluateBackdoor measures m's backdoor ASR for t on the labelled images
// of d: each non-target image is stamped with the trigger and classified;
// clean are m's predictions on the clean images (nil: computed here).
func EvaluateBackdoor(ctx context.Context, m models.Classifier, d *datasets.Dataset, t *Trigger, clean []int, batch int) (*report.Backdoor, error) {
	if d.Labels == nil {
		return nil, fmt.Errorf("data %s has no labels; a backdoor's ASR needs them", d.Name)
	}
	if err := t.Check(d.Shape, m.NumClasses()); err != nil {
		return nil, err
	}
	if batch < 1 {
		batch = 256
	}
	n, k := d.Len(), m.NumClasses()
	sz := d.Shape[0] * d.Shape[1] * d.Shape[2]
	trig := make([]int, n)
	needClean := clean == nil
	if needClean {
		clean = make([]int, n)
	}
	x := make([]float32, batch*sz)
	z := make([]float32, batch*k)
	idx := make([]int, 0, batch)
	for i := 0; i < n; i += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := min(n, i+batch)
		idx = idx[:0]
		for j := i; j < e; j++ {
			idx = append(idx, j)
		}
		xb, zb := x[:(e-i)*sz], z[:(e-i)*k]
		d.Batch(idx, xb)
		if needClean {
			if err := m.Logits(zb, xb); err != nil {
				return nil, err
			}
			copy(clean[i:e], metrics.Argmax(zb, k))
		}
		for j := 0; j < e-i; j++ {
			t.Apply(xb[j*sz:(j+1)*sz], d.Shape)
		}
		if err := m.Logits(zb, xb); err != nil {
			return nil, err
		}
		if err := models.CheckFinite("logits of triggered images", zb); err != nil {
			return nil, err
		}
		copy(trig[i:e], metrics.Argmax(zb, k))
	}
	return report.NewBackdoor(t.String(), t.Target, trig, clean, d.Labels)
}
