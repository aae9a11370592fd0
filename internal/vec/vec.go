// Package vec holds the engine's float32 inner loops over contiguous
// slices — multiply-add, dot product, ReLU and Clip with their gradients —
// in SIMD assembly on amd64 (AVX2 and FMA) and in plain Go elsewhere.
//
// Results are deterministic: each function performs the same operations
// in the same order for given lengths, wherever the slices lie. The
// assembly and the Go versions may round differently (the assembly fuses
// multiply-adds), so a machine always uses the same one.
package vec

// Axpy adds a·x[i] to y[i] for every i < len(y); x must be at least as long.
func Axpy(a float32, x, y []float32) {
	x = x[:len(y)]
	if len(y) == 0 {
		return
	}
	axpy(a, x, y)
}

// SumScaled sets dst[i] to the sum over t of w[t]·src[offs[t]+i], for
// every i < len(dst), accumulating the terms in the order of t: one pass
// over dst for a sum of scaled shifted copies (a depthwise convolution's
// taps) instead of one pass per term. src must be long enough for every
// offset.
func SumScaled(dst, w, src []float32, offs []int) {
	if len(dst) == 0 {
		return
	}
	offs = offs[:len(w)]
	for _, o := range offs {
		_ = src[o : o+len(dst)] // bounds, once, for the assembly
	}
	sumScaled(dst, w, src, offs)
}

// Dot returns the sum of x[i]·y[i] over i < len(x); y must be at least as long.
func Dot(x, y []float32) float32 {
	y = y[:len(x)]
	if len(x) == 0 {
		return 0
	}
	return dot(x, y)
}

// Relu writes max(x, 0) to dst, treating the sign bit alone: every value
// with the sign bit set, −0 included, becomes +0.
func Relu(dst, x []float32) {
	dst = dst[:len(x)]
	if len(x) == 0 {
		return
	}
	relu(dst, x)
}

// ReluGrad adds gy[i] to gx[i] where x[i] > 0 (ReLU'(0) = 0, as in
// PyTorch). Like Relu it reads the bits: a NaN with the sign bit clear
// counts as positive.
func ReluGrad(gx, gy, x []float32) {
	gx, gy = gx[:len(x)], gy[:len(x)]
	if len(x) == 0 {
		return
	}
	reluGrad(gx, gy, x)
}

// ReluMask zeros g[i] where y[i] is not positive (as ReluGrad reads it):
// the cotangent of a ReLU's input from its output y, in place.
func ReluMask(g, y []float32) {
	y = y[:len(g)]
	if len(g) == 0 {
		return
	}
	reluMask(g, y)
}

// Clamp writes min(max(x, lo), hi) to dst; a NaN in x stays NaN.
func Clamp(dst, x []float32, lo, hi float32) {
	dst = dst[:len(x)]
	if len(x) == 0 {
		return
	}
	clamp(dst, x, lo, hi)
}

// ClampGrad adds gy[i] to gx[i] where lo <= x[i] <= hi, bounds included, as
// torch.clamp's gradient does.
func ClampGrad(gx, gy, x []float32, lo, hi float32) {
	gx, gy = gx[:len(x)], gy[:len(x)]
	if len(x) == 0 {
		return
	}
	clampGrad(gx, gy, x, lo, hi)
}
