package models

import (
	"fmt"

	pb "github.com/advmatrix/advmatrix/internal/onnxpb"
)

// NonFiniteError reports NaN or infinite values where only finite numbers
// make sense: in a model's weights, its logits or a gradient. Such values
// come from the input (a broken model), not from advmatrix.
type NonFiniteError struct {
	Name  string  // what was checked: `initializer "fc.weight"`, "logits", ...
	Index int     // the position of the first non-finite value
	Value float64 // that value: NaN, +Inf or -Inf
	Count int     // how many values are not finite
}

func (e *NonFiniteError) Error() string {
	if e.Count == 1 {
		return fmt.Sprintf("%s: value %d is %v", e.Name, e.Index, e.Value)
	}
	return fmt.Sprintf("%s: %d values are not finite, the first (index %d) is %v", e.Name, e.Count, e.Index, e.Value)
}

// CheckFinite returns a *NonFiniteError naming name and the first NaN or
// infinite value of v, or nil if every value is finite. It costs one pass
// over v, cheap next to computing v.
func CheckFinite[F float32 | float64](name string, v []F) error {
	for i, x := range v {
		// x−x is 0 for every finite x, NaN for NaN and ±Inf.
		if x-x == 0 {
			continue
		}
		e := &NonFiniteError{Name: name, Index: i, Value: float64(x)}
		for _, y := range v[i:] {
			if y-y != 0 {
				e.Count++
			}
		}
		return e
	}
	return nil
}

// checkNaN is CheckFinite for NaN only.
func checkNaN[F float32 | float64](name string, v []F) error {
	for i, x := range v {
		if x == x {
			continue
		}
		e := &NonFiniteError{Name: name, Index: i, Value: float64(x)}
		for _, y := range v[i:] {
			if y != y {
				e.Count++
			}
		}
		return e
	}
	return nil
}

// checkFiniteConstants refuses a NaN in any float constant of the graph
// (an initializer or a Constant node's value) and an infinity in any
// weight, in file order. Infinities elsewhere can be meant: a Clip bound,
// an attention mask.
func checkFiniteConstants(mp *pb.ModelProto, g *graph, maxElements int64) error {
	for _, t := range mp.GetGraph().GetInitializer() {
		name := t.GetName()
		what := fmt.Sprintf("initializer %q", name)
		if i, ok := g.paramIdx[name]; ok {
			if err := CheckFinite(what, g.params[i].data); err != nil {
				return err
			}
			continue
		}
		if c := g.consts[name]; c != nil && isFloatType(c.dtype) {
			if err := checkNaNs(what, c); err != nil {
				return err
			}
		}
	}
	for i, n := range g.nodes {
		if n.GetOpType() != "Constant" {
			continue
		}
		what := fmt.Sprintf("Constant node %s", nodeName(n, i))
		for _, a := range n.GetAttribute() {
			var err error
			switch a.GetName() {
			case "value":
				// A malformed tensor is reported when the graph is compiled.
				if t := a.GetT(); t != nil && isFloatType(t.GetDataType()) {
					if c, derr := decodeTensor(t, tensorLimits{maxElements: maxElements}); derr == nil {
						err = checkNaNs(what, c)
					}
				}
			case "value_float":
				err = checkNaN(what, []float32{a.GetF()})
			case "value_floats":
				err = checkNaN(what, a.GetFloats())
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func checkNaNs(what string, c *constant) error {
	if err := checkNaN(what, c.f32); err != nil {
		return err
	}
	return checkNaN(what, c.f64)
}
