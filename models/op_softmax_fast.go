package models

import "math"

// Softmax and LogSoftmax over a contiguous last axis — attention's rows —
// split over the cores, row by row (so the split never changes a value),
// with a polynomial exp in float32 programs: math.Exp was a tenth of a
// Swin forward and backward pass.
type softmaxRows[T Float] struct {
	rows, n int
	log     bool
	exp     func(float64) float64

	split      rangeSplit
	x, y, g, d []T
	fwdR, bwdR func(lo, hi int)
}

func newSoftmaxRows[T Float](rows, n int, log bool) *softmaxRows[T] {
	s := &softmaxRows[T]{rows: rows, n: n, log: log, exp: math.Exp}
	var zero T
	if _, ok := any(zero).(float32); ok {
		s.exp = expFast
	}
	s.fwdR, s.bwdR = s.forwardRows, s.backwardRows
	return s
}

func (s *softmaxRows[T]) forward(x, y []T) {
	s.x, s.y = x, y
	s.split.run(s.rows, 8*s.n, s.fwdR)
}

func (s *softmaxRows[T]) backward(y, g, d []T) {
	s.y, s.g, s.d = y, g, d
	s.split.run(s.rows, 4*s.n, s.bwdR)
}

// forwardRows computes what softmaxK does for each row, in the same order.
func (s *softmaxRows[T]) forwardRows(lo, hi int) {
	for r := lo; r < hi; r++ {
		x, y := s.x[r*s.n:(r+1)*s.n], s.y[r*s.n:(r+1)*s.n]
		mx := T(math.Inf(-1))
		for _, v := range x {
			mx = max(mx, v)
		}
		var sum T
		for i, v := range x {
			e := T(s.exp(float64(v - mx)))
			y[i] = e
			sum += e
		}
		if s.log {
			ls := T(math.Log(float64(sum)))
			for i, v := range x {
				y[i] = v - mx - ls
			}
		} else {
			for i := range y {
				y[i] /= sum
			}
		}
	}
}

func (s *softmaxRows[T]) backwardRows(lo, hi int) {
	for r := lo; r < hi; r++ {
		y, g, d := s.y[r*s.n:(r+1)*s.n], s.g[r*s.n:(r+1)*s.n], s.d[r*s.n:(r+1)*s.n]
		var sum T
		if s.log {
			for _, v := range g {
				sum += v
			}
			for i, v := range g {
				d[i] += v - T(s.exp(float64(y[i])))*sum
			}
			continue
		}
		for i, v := range g {
			sum += v * y[i]
		}
		for i, v := range g {
			d[i] += y[i] * (v - sum)
		}
	}
}

// expFast is exp to 6e-11 relative error: x = k·ln 2 + r with |r| ≤ ln2/2,
// e^r by a degree-7 polynomial (a Chebyshev fit), times 2^k. Enough for a
// float32 result; float64 programs use math.Exp.
func expFast(x float64) float64 {
	switch {
	case x != x:
		return x
	case x > 709:
		return math.Inf(1)
	case x < -708:
		return 0
	}
	const (
		ln2Hi = 6.93147180369123816490e-01 // ln 2 split so that k·ln2Hi is exact
		ln2Lo = 1.90821492927058770002e-10
	)
	k := math.Floor(x*math.Log2E + 0.5)
	r := (x - k*ln2Hi) - k*ln2Lo
	p := 0.0001991589603076035
	p = p*r + 0.0013948581297353472
	p = p*r + 0.008333266045054803
	p = p*r + 0.04166621826716819
	p = p*r + 0.16666666891315574
	p = p*r + 0.5000000107752022
	p = p*r + 0.99999999997975
	p = p*r + 0.999999999959631
	return p * math.Float64frombits(uint64(int64(k)+1023)<<52)
}
