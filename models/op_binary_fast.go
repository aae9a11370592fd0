package models

// Fast paths of the broadcast binary ops for the shapes transformers run
// them on: a tensor times, plus or over a scalar (GELU's ½, 1 and √2, the
// attention scale), and elementwise Div and Mul (GELU's x·(1+erf)) whose
// gradients the general loop computes one element and one switch at a
// time. They compute exactly what the general loop does per element.

// binaryRowFast writes one broadcast row y = a ∘ b when one operand is
// contiguous and the other a scalar, or both are contiguous and the op is
// Div; it reports whether it did.
func binaryRowFast[T Float](kind binKind, isInt bool, y, a, b []T, ia, ib, inca, incb int) bool {
	if kind > bDiv || (kind == bDiv && isInt) {
		return false
	}
	n := len(y)
	switch {
	case inca == 1 && incb == 0:
		x, s := a[ia:ia+n], b[ib]
		switch kind {
		case bAdd:
			for i, v := range x {
				y[i] = v + s
			}
		case bSub:
			for i, v := range x {
				y[i] = v - s
			}
		case bMul:
			for i, v := range x {
				y[i] = v * s
			}
		case bDiv:
			for i, v := range x {
				y[i] = v / s
			}
		}
	case inca == 0 && incb == 1:
		s, z := a[ia], b[ib:ib+n]
		switch kind {
		case bAdd:
			for i, v := range z {
				y[i] = s + v
			}
		case bSub:
			for i, v := range z {
				y[i] = s - v
			}
		case bMul:
			for i, v := range z {
				y[i] = s * v
			}
		case bDiv:
			for i, v := range z {
				y[i] = s / v
			}
		}
	case inca == 1 && incb == 1 && kind == bDiv:
		x, z := a[ia:ia+n], b[ib:ib+n]
		for i, v := range x {
			y[i] = v / z[i]
		}
	default:
		return false
	}
	return true
}

// binaryGradFast adds the gradients of one row of Mul or Div when the
// operands are contiguous or scalars; it reports whether it did.
func binaryGradFast[T Float](kind binKind, g, a, b, ga, gb []T, ia, ib, inca, incb int) bool {
	n := len(g)
	if kind != bMul && kind != bDiv {
		return false
	}
	switch {
	case inca == 1 && incb == 1:
		x, z := a[ia:ia+n], b[ib:ib+n]
		if kind == bMul {
			if ga != nil {
				d := ga[ia : ia+n]
				for i, v := range g {
					d[i] += v * z[i]
				}
			}
			if gb != nil {
				d := gb[ib : ib+n]
				for i, v := range g {
					d[i] += v * x[i]
				}
			}
			return true
		}
		if ga != nil {
			d := ga[ia : ia+n]
			for i, v := range g {
				d[i] += v / z[i]
			}
		}
		if gb != nil {
			d := gb[ib : ib+n]
			for i, v := range g {
				d[i] += -v * x[i] / (z[i] * z[i])
			}
		}
		return true
	case inca == 1 && incb == 0:
		x, s := a[ia:ia+n], b[ib]
		if ga != nil {
			d := ga[ia : ia+n]
			if kind == bMul {
				for i, v := range g {
					d[i] += v * s
				}
			} else {
				for i, v := range g {
					d[i] += v / s
				}
			}
		}
		if gb != nil {
			var acc T
			if kind == bMul {
				for i, v := range g {
					acc += v * x[i]
				}
			} else {
				for i, v := range g {
					acc += -v * x[i] / (s * s)
				}
			}
			gb[ib] += acc
		}
		return true
	case inca == 0 && incb == 1 && kind == bMul:
		s, z := a[ia], b[ib:ib+n]
		if gb != nil {
			d := gb[ib : ib+n]
			for i, v := range g {
				d[i] += v * s
			}
		}
		if ga != nil {
			var acc T
			for i, v := range g {
				acc += v * z[i]
			}
			ga[ia] += acc
		}
		return true
	}
	return false
}
