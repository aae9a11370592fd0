package models

import "math"

// erfFast is erf to about 1e-11 absolute (below 1, 3e-11 relative): far
// more than a float32 result needs, at a fraction of math.Erf's cost.
// Piecewise polynomials in the Chebyshev variable t ∈ [−1, 1] of each
// interval, fitted at Chebyshev nodes: erf(x)/x as a polynomial of x² on
// |x| < 1, erf itself on [1, 2], [2, 3] and [3, 4]; beyond 4 erf rounds to
// ±1 in float32 (1 − erf(4) = 1.5e-8 is under half an ulp of 1). Only the
// float32 engine uses it; float64 programs call math.Erf.
func erfFast(x float64) float64 {
	a := math.Abs(x)
	var r float64
	switch {
	case a < 1:
		return x * horner(erfSmall[:], 2*a*a-1)
	case a < 2:
		r = horner(erf12[:], 2*a-3)
	case a < 3:
		r = horner(erf23[:], 2*a-5)
	case a < 4:
		r = horner(erf34[:], 2*a-7)
	case a != a:
		return x // NaN
	default:
		r = 1
	}
	if x < 0 {
		return -r
	}
	return r
}

func horner(c []float64, t float64) float64 {
	v := c[len(c)-1]
	for i := len(c) - 2; i >= 0; i-- {
		v = v*t + c[i]
	}
	return v
}

// Coefficients, lowest order first (fitted with NumPy's Chebyshev least
// squares on 4000 nodes and converted to powers of t; maximum errors
// measured on 400,001 points of each interval).

// erfSmall: erf(x)/x for x² = (t+1)/2 ∈ [0, 1], max abs error 3.3e-11.
var erfSmall = [...]float64{0.965468738637628, -0.14053608901553918, 0.019852497722809004, -0.0022854856568527418,
	0.0002175119896583676, -1.7536824931201548e-05, 1.2316402530345896e-06, -7.557476609149856e-08}

// erf12: erf(x) for x = (t+3)/2 ∈ [1, 2], max abs error 8.4e-12.
var erf12 = [...]float64{0.9661051464674127, 0.05946514460470051, -0.044598857882519514, 0.01734400071082101,
	-0.00278743541822709, -0.00046457303312513894, 0.0003020005611419377, -3.704965576628236e-05,
	-9.286225499210544e-06, 3.3304306784546284e-06, -3.8525671067002385e-08, -1.1702322304463299e-07}

// erf23: erf(x) for x = (t+5)/2 ∈ [2, 3], max abs error 6.0e-12.
var erf23 = [...]float64{0.9995930479842873, 0.001089142159156835, -0.001361427762944145, 0.0010437603271619047,
	-0.0005388970531892895, 0.00019117187393034835, -4.373234307428996e-05, 4.227163890721023e-06,
	1.0297085970974615e-06, -4.792863668082441e-07, 6.672904281819147e-08}

// erf34: erf(x) for x = (t+7)/2 ∈ [3, 4], max abs error 8.3e-12.
var erf34 = [...]float64{0.9999992568934926, 2.6997145577786824e-06, -4.724086233676279e-06, 5.286914445416665e-06,
	-4.235676739246067e-06, 2.5662773929739672e-06, -1.2054023216244242e-06, 4.5427317884613725e-07,
	-1.446771385811823e-07, 3.036022297532341e-08}
