package scenarios

import (
	"fmt"
	"sort"

	"github.com/advmatrix/advmatrix/report"
)

// Merge combines the results of the shards of one scenario run (--shard
// I/N for every I) into what one unsharded run writes: the same scenario
// file, settings and shard count, every shard once, no cell twice.
func Merge(parts []*report.ScenarioResult) (*report.ScenarioResult, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("nothing to merge")
	}
	first := parts[0]
	if first.Kind != "scenario" {
		return nil, fmt.Errorf("part 1 is not a scenario result (kind %q)", first.Kind)
	}
	count := 1
	if first.Shard != nil {
		count = first.Shard.Count
	}
	seenShard := map[int]bool{}
	seenCell := map[int]bool{}
	out := *first
	out.Shard = nil
	out.Cells = nil
	out.Warnings = nil
	sources := map[string]report.SourceRef{}
	for i, p := range parts {
		switch {
		case p.Schema != first.Schema:
			return nil, fmt.Errorf("part %d has schema %s, part 1 %s", i+1, p.Schema, first.Schema)
		case p.Scenario.SHA256 != first.Scenario.SHA256:
			return nil, fmt.Errorf("part %d is from another scenario file (sha256 %.12s, part 1 %.12s)", i+1, p.Scenario.SHA256, first.Scenario.SHA256)
		case p.Seed != first.Seed || p.Limit != first.Limit || p.Batch != first.Batch || p.Sample != first.Sample || p.Control != first.Control:
			return nil, fmt.Errorf("part %d ran with other settings (seed, limit, batch, sample or control) than part 1", i+1)
		case p.ToolVersion != first.ToolVersion:
			return nil, fmt.Errorf("part %d was made by advmatrix %s, part 1 by %s: run every shard with the same build", i+1, p.ToolVersion, first.ToolVersion)
		case p.CellsPlanned != first.CellsPlanned:
			return nil, fmt.Errorf("part %d planned %d cells, part 1 %d", i+1, p.CellsPlanned, first.CellsPlanned)
		}
		pc := 1
		idx := 0
		if p.Shard != nil {
			pc, idx = p.Shard.Count, p.Shard.Index
		}
		if pc != count {
			return nil, fmt.Errorf("part %d is shard %d/%d, part 1 is of %d shards", i+1, idx, pc, count)
		}
		if seenShard[idx] {
			return nil, fmt.Errorf("shard %d/%d is given twice", idx, count)
		}
		seenShard[idx] = true
		for _, c := range p.Cells {
			if seenCell[c.Index] {
				return nil, fmt.Errorf("cell %d appears in two parts", c.Index)
			}
			seenCell[c.Index] = true
			out.Cells = append(out.Cells, c)
		}
		for _, s := range p.Sources {
			sources[s.Name] = s
		}
		out.Warnings = append(out.Warnings, p.Warnings...)
		out.WallSeconds = max(out.WallSeconds, p.WallSeconds)
		if p.StartedAt < out.StartedAt {
			out.StartedAt = p.StartedAt
		}
	}
	for i := 0; i < count; i++ {
		if !seenShard[i] {
			return nil, fmt.Errorf("shard %d/%d is missing", i, count)
		}
	}
	if len(out.Cells) != out.CellsPlanned {
		return nil, fmt.Errorf("%d of %d planned cells are present (a shard was interrupted?)", len(out.Cells), out.CellsPlanned)
	}
	out.Sources = nil
	for _, name := range keysOf(sources) {
		out.Sources = append(out.Sources, sources[name])
	}
	sort.SliceStable(out.Cells, func(i, j int) bool { return out.Cells[i].Index < out.Cells[j].Index })
	Summarize(&out)
	return &out, nil
}
