package attacks

import (
	"fmt"
	"math"
)

// Norm is the distance an attack's perturbation is bounded in.
type Norm int

const (
	Linf Norm = iota // max |δ|
	L2               // per-image Euclidean norm of δ
)

func (n Norm) String() string {
	switch n {
	case Linf:
		return "linf"
	case L2:
		return "l2"
	}
	return fmt.Sprintf("Norm(%d)", int(n))
}

// ParseNorm reads "linf" or "l2".
func ParseNorm(s string) (Norm, error) {
	switch s {
	case "linf", "Linf", "inf", "LInf":
		return Linf, nil
	case "l2", "L2":
		return L2, nil
	}
	return 0, fmt.Errorf("unknown norm %q (want linf or l2)", s)
}

// project moves x back into the ε-ball around x0 and into [0,1], image by
// image (size values each).
func project(norm Norm, eps float32, x0, x []float32, size int) {
	switch norm {
	case Linf:
		for i, v := range x {
			lo, hi := x0[i]-eps, x0[i]+eps
			v = min(max(v, lo), hi)
			x[i] = min(max(v, 0), 1)
		}
	case L2:
		for off := 0; off < len(x); off += size {
			xi, x0i := x[off:off+size], x0[off:off+size]
			var s float64
			for j := range xi {
				d := float64(xi[j] - x0i[j])
				s += d * d
			}
			if n := math.Sqrt(s); n > float64(eps) {
				f := float32(float64(eps) / n)
				for j := range xi {
					xi[j] = x0i[j] + (xi[j]-x0i[j])*f
				}
			}
			for j, v := range xi {
				xi[j] = min(max(v, 0), 1)
			}
		}
	}
}
