package defenses

import (
	"fmt"

	"github.com/advmatrix/advmatrix/models"
	"github.com/advmatrix/advmatrix/models/onnxgraph"
	"github.com/advmatrix/advmatrix/provenance"
	"github.com/advmatrix/advmatrix/scenarios"
)

// Ensemble is an ensemble model written as ONNX, with what went into it.
type Ensemble struct {
	ONNX        []byte
	Members     []provenance.File
	Aggregation onnxgraph.Aggregation
	Model       *models.Model // the ensemble, compiled: it loads and runs
}

// NewEnsemble combines the models named by specs (ONNX paths or zoo:NAME)
// under one aggregation, and checks that the result loads.
func NewEnsemble(specs []string, agg onnxgraph.Aggregation) (*Ensemble, error) {
	if len(specs) < 2 {
		return nil, fmt.Errorf("an ensemble needs at least 2 models, got %d", len(specs))
	}
	e := &Ensemble{Aggregation: agg}
	var ms []onnxgraph.Member
	for _, s := range specs {
		b, f, err := scenarios.ReadModel(s)
		if err != nil {
			return nil, err
		}
		// Each member must load on its own first, so that an unsupported
		// op is reported against the file it is in.
		if _, err := models.Load(b); err != nil {
			return nil, fmt.Errorf("member %s: %w", s, err)
		}
		ms = append(ms, onnxgraph.Member{Name: s, ONNX: b})
		e.Members = append(e.Members, f)
	}
	data, err := onnxgraph.Combine(ms, agg)
	if err != nil {
		return nil, err
	}
	if e.Model, err = models.Load(data); err != nil {
		return nil, fmt.Errorf("the ensemble does not load: %w", err)
	}
	e.ONNX = data
	return e, nil
}
