package models

import "math"

func init() {
	register("Mod", 10, nil, buildMod[float32], buildMod[float64])
}

// modK is ONNX Mod with numpy broadcasting. With fmod=1 it is C's fmod
// (the result takes the sign of the dividend), with fmod=0 — integers only
// — Python's % (the sign of the divisor). Integer Mod is shape arithmetic
// (Swin's window padding) and is evaluated when the graph is compiled;
// float Mod runs on data and has PyTorch's gradients: ∂/∂a = 1,
// ∂/∂b = −trunc(a/b) for fmod and −floor(a/b) for the floor remainder.
type modK[T Float] struct {
	bc    *bcast
	floor bool // Python semantics (fmod=0)
}

func buildMod[T Float](c *buildCtx) (kernel[T], error) {
	if err := c.needInputs(2, 2); err != nil {
		return nil, err
	}
	a, b := c.in[0], c.in[1]
	if a.dtype != b.dtype {
		return nil, c.errorf("operands have different element types %s and %s", dtypeName(a.dtype), dtypeName(b.dtype))
	}
	fm, err := c.attrInt("fmod", 0)
	if err != nil {
		return nil, err
	}
	if fm != 0 && fm != 1 {
		return nil, c.errorf("fmod must be 0 or 1, is %d", fm)
	}
	if isFloatType(a.dtype) && fm == 0 {
		return nil, c.errorf("floating-point Mod needs fmod=1")
	}
	if !isFloatType(a.dtype) && !isIntType(a.dtype) || a.dtype == dtBool {
		return nil, c.errorf("element type %s is not supported", dtypeName(a.dtype))
	}
	if !c.folding && !isFloatType(a.dtype) {
		return nil, c.errorf("integer arithmetic on run-time data is not supported")
	}
	out, ok := broadcastShape(a.shape, b.shape)
	if !ok {
		return nil, c.errorf("shapes %v and %v do not broadcast", a.shape, b.shape)
	}
	k := &modK[T]{bc: newBcast(a.shape, b.shape, out), floor: fm == 0}
	return k, c.setOut(0, out, a.dtype)
}

// mod is a − b·trunc(a/b) (fmod), or with floor, a − b·floor(a/b) (the
// remainder with the sign of b). Division by zero gives NaN for floats;
// for the integers it is undefined in ONNX and gives NaN here too, which
// folding turns into an unspecified integer.
func mod(a, b float64, floor bool) float64 {
	r := math.Mod(a, b)
	if floor && r != 0 && (r < 0) != (b < 0) {
		r += b
	}
	return r
}

func (k *modK[T]) forward(in, out [][]T) {
	a, b, y := in[0], in[1], out[0]
	k.bc.each(func(o, ia, ib, n, inca, incb int) {
		for i := 0; i < n; i++ {
			y[o+i] = T(mod(float64(a[ia+i*inca]), float64(b[ib+i*incb]), k.floor))
		}
	})
}

func (k *modK[T]) backward(in, out, gout, gin [][]T) {
	a, b, gy := in[0], in[1], gout[0]
	ga, gb := gin[0], gin[1]
	k.bc.each(func(o, ia, ib, n, inca, incb int) {
		for i := 0; i < n; i++ {
			g := gy[o+i]
			if ga != nil {
				ga[ia+i*inca] += g
			}
			if gb != nil {
				x, z := float64(a[ia+i*inca]), float64(b[ib+i*incb])
				q := math.Trunc(x / z)
				if k.floor {
					q = math.Floor(x / z)
				}
				gb[ib+i*incb] -= g * T(q)
			}
		}
	})
}
