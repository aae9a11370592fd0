//go:build !amd64 || purego

package vec

func axpy(a float32, x, y []float32)                { axpyGo(a, x, y) }
func sumScaled(dst, w, src []float32, offs []int)   { sumScaledGo(dst, w, src, offs) }
func dot(x, y []float32) float32                    { return dotGo(x, y) }
func relu(dst, x []float32)                         { reluGo(dst, x) }
func reluMask(g, y []float32)                       { reluMaskGo(g, y) }
func reluGrad(gx, gy, x []float32)                  { reluGradGo(gx, gy, x) }
func clamp(dst, x []float32, lo, hi float32)        { clampGo(dst, x, lo, hi) }
func clampGrad(gx, gy, x []float32, lo, hi float32) { clampGradGo(gx, gy, x, lo, hi) }
