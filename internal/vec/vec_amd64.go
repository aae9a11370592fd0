//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// The assembly loops take pointers and a length n ≥ 1; the exported
// functions have already checked the slices.

//go:noescape
func axpyAVX2(a float32, x, y *float32, n int)

//go:noescape
func sumScaledAVX2(dst *float32, n int, w, src *float32, offs *int, taps int)

//go:noescape
func dotAVX2(x, y *float32, n int) float32

//go:noescape
func reluAVX2(dst, x *float32, n int)

//go:noescape
func reluGradAVX2(gx, gy, x *float32, n int)

//go:noescape
func reluMaskAVX2(grad, y *float32, n int)

//go:noescape
func clampAVX2(dst, x *float32, n int, lo, hi float32)

//go:noescape
func clampGradAVX2(gx, gy, x *float32, n int, lo, hi float32)

func axpy(a float32, x, y []float32) {
	if useAsm {
		axpyAVX2(a, &x[0], &y[0], len(y))
		return
	}
	axpyGo(a, x, y)
}

func sumScaled(dst, w, src []float32, offs []int) {
	if useAsm && len(w) > 0 {
		sumScaledAVX2(&dst[0], len(dst), &w[0], &src[0], &offs[0], len(w))
		return
	}
	sumScaledGo(dst, w, src, offs)
}

func dot(x, y []float32) float32 {
	if useAsm {
		return dotAVX2(&x[0], &y[0], len(x))
	}
	return dotGo(x, y)
}

func relu(dst, x []float32) {
	if useAsm {
		reluAVX2(&dst[0], &x[0], len(x))
		return
	}
	reluGo(dst, x)
}

func reluGrad(gx, gy, x []float32) {
	if useAsm {
		reluGradAVX2(&gx[0], &gy[0], &x[0], len(x))
		return
	}
	reluGradGo(gx, gy, x)
}

func reluMask(g, y []float32) {
	if useAsm {
		reluMaskAVX2(&g[0], &y[0], len(g))
		return
	}
	reluMaskGo(g, y)
}

func clamp(dst, x []float32, lo, hi float32) {
	if useAsm {
		clampAVX2(&dst[0], &x[0], len(x), lo, hi)
		return
	}
	clampGo(dst, x, lo, hi)
}

func clampGrad(gx, gy, x []float32, lo, hi float32) {
	if useAsm {
		clampGradAVX2(&gx[0], &gy[0], &x[0], len(x), lo, hi)
		return
	}
	clampGradGo(gx, gy, x, lo, hi)
}
