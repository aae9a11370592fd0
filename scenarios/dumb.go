package scenarios

import "fmt"

// Axes are what DUMB compares between an attacker and a victim: the data
// source, the model architecture and the class balance.
type Axes struct {
	Source, Arch, Balance string
}

// Case is DUMB's scenario number for an attacker and a victim,
// 1 + 4·[D≠] + [B≠] + 2·[M≠]: C1 all three equal (ideal for the attacker),
// C2 another balance, C3 another architecture, C4 both, C5–C8 the same
// with another data source (C8: everything differs).
func Case(attacker, victim Axes) int {
	c := 1
	if attacker.Source != victim.Source {
		c += 4
	}
	if attacker.Balance != victim.Balance {
		c++
	}
	if attacker.Arch != victim.Arch {
		c += 2
	}
	return c
}

// CaseName is "C1" … "C8".
func CaseName(c int) string { return fmt.Sprintf("C%d", c) }

// CaseCounts counts the DUMB case of every attacker × victim pair.
func CaseCounts(attackers, victims []Axes) [9]int {
	var n [9]int
	for _, a := range attackers {
		for _, v := range victims {
			n[Case(a, v)]++
		}
	}
	return n
}
