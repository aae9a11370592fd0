package defenses

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/report"
)

func TestParseTrigger(t *testing.T) {
	tr, err := ParseTrigger("badnets:target=7,rate=0.1")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Target != 7 || tr.Rate != 0.1 || tr.Size != 3 || tr.Pos != "br" || tr.Pattern != "white" {
		t.Errorf("%+v", tr)
	}
	if s := tr.String(); s != "badnets:target=7,rate=0.1,size=3,pos=br,pattern=white" {
		t.Errorf("String %q", s)
	}
	if again, err := ParseTrigger(tr.String()); err != nil || *again != *tr {
		t.Errorf("round trip: %+v, %v", again, err)
	}
	for _, c := range []struct{ spec, want string }{
		{"badnets:rate=0.1", "target=T is required"},
		{"blend:target=1", "want badnets"},
		{"badnets:target=1,rate=0", "fraction"},
		{"badnets:target=1,rate=1.5", "fraction"},
		{"badnets:target=-1", "negative"},
		{"badnets:target=1,size=0", "at least 1"},
		{"badnets:target=1,pos=middle", "ROW:COL"},
		{"badnets:target=1,pattern=noise", "pattern"},
		{"badnets:target=1,colour=red", "unknown key"},
		{"badnets:target=1,target=2", "given twice"},
		{"badnets:target=x", "target=x"},
	} {
		if _, err := ParseTrigger(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.spec, err, c.want)
		}
	}
}

func TestTriggerApply(t *testing.T) {
	shape := [3]int{2, 5, 6}
	for _, c := range []struct {
		pos    string
		r0, c0 int
	}{{"br", 3, 4}, {"bl", 3, 0}, {"tr", 0, 4}, {"tl", 0, 0}, {"1:2", 1, 2}} {
		tr := &Trigger{Target: 0, Size: 2, Pos: c.pos, Pattern: "checker"}
		img := make([]float32, 2*5*6)
		for i := range img {
			img[i] = 0.5
		}
		tr.Apply(img, shape)
		for ch := 0; ch < 2; ch++ {
			for r := 0; r < 5; r++ {
				for q := 0; q < 6; q++ {
					v := img[ch*30+r*6+q]
					in := r >= c.r0 && r < c.r0+2 && q >= c.c0 && q < c.c0+2
					want := float32(0.5)
					if in {
						want = float32(1 - (r-c.r0+q-c.c0)%2)
					}
					if v != want {
						t.Fatalf("pos %s: pixel (%d,%d,%d) = %v, want %v", c.pos, ch, r, q, v, want)
					}
				}
			}
		}
	}
	if err := (&Trigger{Target: 0, Size: 3, Pos: "4:4", Pattern: "white"}).Check(shape, 10); err == nil {
		t.Error("a patch past the edge fits")
	}
	if err := (&Trigger{Target: 10, Size: 3, Pos: "br", Pattern: "white"}).Check([3]int{1, 28, 28}, 10); err == nil {
		t.Error("target 10 of 10 classes accepted")
	}
}

func TestPoison(t *testing.T) {
	d, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	d = d.Subset(identity(1000))
	tr, _ := ParseTrigger("badnets:target=3,rate=0.1")
	p, info, err := Poison(d, tr, 1)
	if err != nil {
		t.Fatal(err)
	}
	nonTarget := 0
	for _, y := range d.Labels {
		if y != 3 {
			nonTarget++
		}
	}
	if info.NonTarget != nonTarget || info.Poisoned != int(math.Round(0.1*float64(nonTarget))) {
		t.Errorf("%+v for %d non-target images", info, nonTarget)
	}
	// Every poisoned image is a non-target one, so its label changes; all
	// others are untouched.
	img, stamped := make([]float32, 784), make([]float32, 784)
	changed := 0
	for i := 0; i < d.Len(); i++ {
		p.Image(i, img)
		d.Image(i, stamped)
		if p.Labels[i] == d.Labels[i] {
			if !equalFloats(img, stamped) {
				t.Fatalf("image %d changed", i)
			}
			continue
		}
		changed++
		tr.Apply(stamped, d.Shape)
		if p.Labels[i] != 3 || !equalFloats(img, stamped) {
			t.Fatalf("image %d relabelled %d without the trigger", i, p.Labels[i])
		}
	}
	if changed != info.Poisoned {
		t.Errorf("%d images relabelled, %d poisoned", changed, info.Poisoned)
	}
	again, _, _ := Poison(d, tr, 1)
	for i := 0; i < d.Len(); i++ {
		if again.Labels[i] != p.Labels[i] {
			t.Fatal("poisoning is not reproducible from its seed")
		}
	}
	if _, _, err := Poison(d, &Trigger{Target: 3, Size: 3, Pos: "br", Pattern: "white"}, 1); err == nil {
		t.Error("poisoning without a rate")
	}
}

func identity(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// The ASR leaves the target class out of its denominator.
func TestBackdoorASRDenominator(t *testing.T) {
	labels := []int{0, 1, 2, 3, 3, 3, 1, 2}
	trig := []int{3, 3, 2, 3, 3, 3, 0, 3} // target-class images "succeed" too
	clean := []int{0, 1, 2, 3, 3, 3, 1, 3}
	b, err := report.NewBackdoor("x", 3, trig, clean, labels)
	if err != nil {
		t.Fatal(err)
	}
	if b.NonTarget != 5 || b.Excluded != 3 || b.ASR.Num != 3 || b.ASR.Den != 5 {
		t.Errorf("ASR %d/%d over %d non-target, %d excluded", b.ASR.Num, b.ASR.Den, b.NonTarget, b.Excluded)
	}
	if b.CleanTargetRate.Num != 1 || b.Effect.FirstOnly != 2 || b.Effect.Both != 1 || b.TriggeredAccuracy.Num != 1 {
		t.Errorf("%+v", b)
	}
}

// ignoring predicts from its own seeded sequence, whatever the images:
// a model that ignores its input.
type ignoring struct {
	mu   sync.Mutex
	next int
	seq  []int
	log  []int
}

func (m *ignoring) InputShape() []int { return []int{1, 28, 28} }
func (m *ignoring) NumClasses() int   { return 10 }
func (m *ignoring) Logits(dst, x []float32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := 0; i < len(x)/784; i++ {
		c := m.seq[m.next%len(m.seq)]
		m.next++
		m.log = append(m.log, c)
		for j := 0; j < 10; j++ {
			dst[i*10+j] = 0
		}
		dst[i*10+c] = 1
	}
	return nil
}
func (m *ignoring) Grad(dx, x []float32, seed func(z, dz []float32)) error { return nil }

// A model that ignores its input has ASR = its rate of predicting the
// target on those (non-target) images.
func TestBackdoorASRIgnoringModel(t *testing.T) {
	d, err := datasets.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	d = d.Subset(identity(2000))
	m := &ignoring{seq: []int{5, 1, 5, 7, 0, 5, 2, 9, 5, 3, 4}}
	tr, _ := ParseTrigger("badnets:target=5")
	clean := make([]int, d.Len()) // given, so that only triggered images are asked for
	b, err := EvaluateBackdoor(context.Background(), m, d, tr, clean, 64)
	if err != nil {
		t.Fatal(err)
	}
	hits, den := 0, 0
	for i, y := range d.Labels {
		if y == 5 {
			continue
		}
		den++
		if m.log[i] == 5 {
			hits++
		}
	}
	if b.ASR.Num != hits || b.ASR.Den != den {
		t.Errorf("ASR %d/%d, the model predicted the target on %d of the %d non-target images", b.ASR.Num, b.ASR.Den, hits, den)
	}
	if rate := float64(hits) / float64(den); math.Abs(rate-4.0/11) > 0.02 {
		t.Errorf("target rate %v, the sequence's is 4/11", rate)
	}
}
