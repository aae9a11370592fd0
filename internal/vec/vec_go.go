package vec

import "math"

// The portable loops, used where there is no assembly (and by tests as
// the reference).

func axpyGo(a float32, x, y []float32) {
	for i, v := range x {
		y[i] += a * v
	}
}

func sumScaledGo(dst, w, src []float32, offs []int) {
	clear(dst)
	for t, a := range w {
		axpyGo(a, src[offs[t]:offs[t]+len(dst)], dst)
	}
}

func dotGo(x, y []float32) float32 {
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

func reluGo(dst, x []float32) {
	for i, v := range x {
		b := math.Float32bits(v)
		m := uint32(int32(b) >> 31) // all ones when the sign bit is set
		dst[i] = math.Float32frombits(b &^ m)
	}
}

func reluGradGo(gx, gy, x []float32) {
	for i, v := range x {
		b := int32(math.Float32bits(v))
		m := uint32((-b)>>31) &^ uint32(b>>31) // all ones iff b > 0 as an integer
		gx[i] += math.Float32frombits(math.Float32bits(gy[i]) & m)
	}
}

func reluMaskGo(g, y []float32) {
	for i, v := range y {
		b := int32(math.Float32bits(v))
		m := uint32((-b)>>31) &^ uint32(b>>31)
		g[i] = math.Float32frombits(math.Float32bits(g[i]) & m)
	}
}

func clampGo(dst, x []float32, lo, hi float32) {
	for i, v := range x {
		dst[i] = min(max(v, lo), hi)
	}
}

func clampGradGo(gx, gy, x []float32, lo, hi float32) {
	for i, v := range x {
		// Branch-free: the comparisons' outcomes are coin flips on real
		// activations.
		m := b2u(v >= lo) & b2u(v <= hi)
		gx[i] += math.Float32frombits(math.Float32bits(gy[i]) & m)
	}
}

// b2u is all ones for true, zero for false; the compiler makes it a SETcc.
func b2u(b bool) uint32 {
	var u uint32
	if b {
		u = 1
	}
	return -u
}
