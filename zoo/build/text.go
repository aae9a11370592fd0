package build

import (
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/advmatrix/advmatrix/train"
)

// The renderings for people of this package's results. They live beside
// their types rather than in package report, which this package imports.

// WriteEpochLine writes the one-line summary of a training epoch, of
// epochs; val says whether there is a validation split.
func WriteEpochLine(w io.Writer, s train.EpochStats, epochs int, val bool) {
	line := fmt.Sprintf("epoch %d/%d  loss %.4f  train %s", s.Epoch, epochs, s.TrainLoss, pct(s.TrainAccuracy))
	if val {
		line += "  val " + pct(s.ValAccuracy)
	}
	line += fmt.Sprintf("  lr %.4g  %.0f images/s", s.LR, s.ImagesPerSec)
	if s.StoppedEarly {
		line += "  (stopping early)"
	}
	fmt.Fprintln(w, line)
}

// WriteTrainText renders a trained model's report for people.
func WriteTrainText(w io.Writer, r *TrainReport) error {
	what := r.Arch
	if r.From != nil {
		what = fmt.Sprintf("fine-tuned from %s, sha256 %.16s", r.From.Path, r.From.SHA256)
	}
	fmt.Fprintf(w, "model     %s (%s, %d parameters, sha256 %s)\n", r.Model.Path, what, r.Model.Parameters, r.Model.SHA256[:16])
	data := fmt.Sprintf("%s (%d images", r.Data.Spec, r.Data.N)
	if r.Data.Sample == "seeded" {
		data += ", a seeded sample"
	}
	data += ")"
	if r.Balance != nil {
		data += fmt.Sprintf(", balance %s → %d images", r.Balance.Spec, r.TrainImages)
	}
	fmt.Fprintf(w, "data      %s; %d train, %d validation\n", data, r.TrainImages-r.ValImages, r.ValImages)
	if p := r.Poison; p != nil {
		fmt.Fprintf(w, "poison    %s: %d of %d non-target images stamped and relabelled %d (seed %d)\n",
			p.Trigger, p.Poisoned, p.NonTarget, p.Trigger.Target, p.Seed)
	}
	fmt.Fprintf(w, "classes   %s\n", intsString(r.ClassCounts))
	h := r.Hyper
	opt := fmt.Sprintf("%s lr %g", h.Optimizer, h.LR)
	if h.Optimizer != "adam" {
		opt += fmt.Sprintf(" momentum %g", h.Momentum)
	}
	if h.WeightDecay > 0 {
		opt += fmt.Sprintf(" weight decay %g", h.WeightDecay)
	}
	fmt.Fprintf(w, "training  %d/%d epochs, %s, %s schedule, batch %d, seed %d\n", r.EpochsRun, r.EpochsWanted, opt, h.Schedule, h.Batch, r.Seed)
	acc := "train " + pct(r.TrainAccuracy)
	if r.ValAccuracy != nil {
		acc += fmt.Sprintf("  val %s (epoch %d)", pct(*r.ValAccuracy), r.BestEpoch)
	}
	if r.Test != nil {
		acc += fmt.Sprintf("  test %s (%s, %d/%d)", pct(r.Test.Accuracy), r.Test.Spec, r.Test.Correct, r.Test.N)
	}
	fmt.Fprintf(w, "accuracy  %s\n", acc)
	if b := r.Backdoor; b != nil {
		fmt.Fprintf(w, "backdoor  ASR %s (%d/%d non-target test images, 95%% CI %s–%s; %s without the trigger)\n",
			pct(b.ASR.Value), b.ASR.Num, b.ASR.Den, pct(b.ASR.Lo95), pct(b.ASR.Hi95), pct(b.CleanTargetRate.Value))
	}
	_, err := fmt.Fprintf(w, "time      %.2f s training, %.2f s wall, %.0f images/s\n", r.TrainSeconds, r.WallSeconds, r.ImagesPerSecond)
	return err
}

// WriteModelLine writes the one-line summary of model i (from 1) of n of
// a zoo build.
func WriteModelLine(w io.Writer, i, n int, m *ModelEntry) {
	line := fmt.Sprintf("[%*d/%d] %-23s %6d images  train %s", len(fmt.Sprint(n)), i, n, m.Name, m.TrainImages, pct(m.TrainAccuracy))
	for _, a := range m.Test {
		line += fmt.Sprintf("  %s %s", a.Source, pct(a.Accuracy))
	}
	fmt.Fprintf(w, "%s  %.1f s\n", line, m.TrainSeconds)
}

// WriteListText renders a listing for people: the embedded models, then
// the zoo's models with their files' state.
func WriteListText(w io.Writer, l *Listing) error {
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off))
	t.Header("embedded model", "bytes", "sha256")
	for _, e := range l.Embedded {
		if err := t.Append("zoo:"+e.Name, fmt.Sprint(e.Bytes), e.SHA256); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	if l.Manifest == nil {
		return nil
	}
	fmt.Fprintln(w)
	status := map[string]string{}
	for _, m := range l.Models {
		status[m.Name] = m.Status
	}
	return WriteZooText(w, l.Dir, l.Manifest, status)
}

// WriteZooText renders a zoo's manifest for people: its models and its
// transfer summary; status, when not nil, adds each model file's state.
func WriteZooText(w io.Writer, dir string, man *Manifest, status map[string]string) error {
	fmt.Fprintf(w, "zoo %s: %d models, seed %d, %d epoch(s) each", dir, len(man.Models), man.Seed, man.Epochs)
	if man.Limit > 0 {
		fmt.Fprintf(w, ", %d training images per source", man.Limit)
	}
	if man.TestLimit > 0 {
		fmt.Fprintf(w, ", %d test images per source", man.TestLimit)
	}
	fmt.Fprintln(w)
	head := []any{"model", "source", "arch", "balance", "train images", "own acc", "cross acc"}
	if status != nil {
		head = append(head, "file")
	}
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight))
	t.Header(head...)
	for _, m := range man.Models {
		row := []any{m.Name, m.Source, m.Arch, m.Balance, fmt.Sprint(m.TrainImages), pct(m.OwnAccuracy), pct(m.CrossAccuracy)}
		if status != nil {
			row = append(row, status[m.Name])
		}
		if err := t.Append(row...); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	if len(man.Transfer) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nmean test accuracy by training source (rows) and test source (columns):")
	return writeTransfer(w, man)
}

// writeTransfer renders the transfer summary: mean, min and max accuracy
// by training and test source, and the mean per architecture.
func writeTransfer(w io.Writer, man *Manifest) error {
	var archs []string
	for _, a := range man.Architectures {
		archs = append(archs, a.Name)
	}
	head := []any{"trained on → tested on", "models", "mean", "min", "max"}
	for _, a := range archs {
		head = append(head, a)
	}
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight))
	t.Header(head...)
	for _, tr := range man.Transfer {
		row := []any{tr.From + " → " + tr.To, fmt.Sprint(tr.Models), pct(tr.Mean), pct(tr.Min), pct(tr.Max)}
		for _, a := range archs {
			if v, ok := tr.ByArch[a]; ok {
				row = append(row, pct(v))
			} else {
				row = append(row, "")
			}
		}
		if err := t.Append(row...); err != nil {
			return err
		}
	}
	return t.Render()
}

func pct(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

func intsString(v []int) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, " ")
}
