package metrics

import (
	"encoding/json"
	"fmt"
	"math"
)

// Rate is a proportion with its denominator and a 95% Wilson score
// interval, which stays inside [0,1] and behaves at 0 and n (unlike the
// normal approximation), as rates over a few hundred images need.
type Rate struct {
	Num   int     `json:"num"`
	Den   int     `json:"den"`
	Value float64 `json:"value"`
	Lo95  float64 `json:"lo95"`
	Hi95  float64 `json:"hi95"`
}

// MarshalJSON writes a rate over no items with null value and bounds: it
// is undefined, not 0%.
func (r Rate) MarshalJSON() ([]byte, error) {
	if r.Den > 0 {
		type plain Rate
		return json.Marshal(plain(r))
	}
	return []byte(fmt.Sprintf(`{"num":%d,"den":%d,"value":null,"lo95":null,"hi95":null}`, r.Num, r.Den)), nil
}

// NewRate computes num/den with its interval; den = 0 gives zeros.
func NewRate(num, den int) Rate {
	r := Rate{Num: num, Den: den}
	if den <= 0 {
		return r
	}
	r.Value = float64(num) / float64(den)
	r.Lo95, r.Hi95 = Wilson(num, den, 1.959963984540054)
	return r
}

// Wilson returns the Wilson score interval for num successes out of den
// trials at normal quantile z.
func Wilson(num, den int, z float64) (lo, hi float64) {
	if den <= 0 {
		return 0, 0
	}
	n := float64(den)
	p := float64(num) / n
	z2 := z * z
	center := (p + z2/(2*n)) / (1 + z2/n)
	half := z / (1 + z2/n) * math.Sqrt(p*(1-p)/n+z2/(4*n*n))
	lo, hi = max(0, center-half), min(1, center+half)
	if num == 0 {
		lo = 0
	}
	if num == den {
		hi = 1
	}
	return lo, hi
}
