package report

import (
	"fmt"
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// WriteEvalText renders an evaluation for people: the model, the data,
// the accuracy with its interval, times, and a table of per-class
// accuracy.
func WriteEvalText(w io.Writer, r *EvalResult) error {
	a := r.Accuracy
	fmt.Fprintf(w, "model     %s (opset %d, %d parameters)\n", r.Model.Path, r.Model.Opset, r.Model.Parameters)
	fmt.Fprintf(w, "data      %s (%d images of %s)\n", r.Data.Spec, r.Data.N, shapeString(r.Data.Shape[:]))
	fmt.Fprintf(w, "accuracy  %s (%d/%d, 95%% CI %s–%s)\n", pct(a.Value), a.Num, a.Den, pct(a.Lo95), pct(a.Hi95))
	if r.Backdoor != nil {
		if err := WriteBackdoorText(w, r.Backdoor); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "time      %.2f s compute, %.2f s wall, %.0f images/s\n\n", r.ComputeSeconds, r.WallSeconds, r.ImagesPerSecond)
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight))
	t.Header("class", "images", "correct", "accuracy", "95% CI")
	for _, c := range r.PerClass {
		name := fmt.Sprint(c.Class)
		if c.Name != "" && c.Name != name {
			name += " " + c.Name
		}
		acc, ci := "–", "–" // a class with no images has no accuracy
		if c.Den > 0 {
			acc, ci = pct(c.Value), pct(c.Lo95)+"–"+pct(c.Hi95)
		}
		if err := t.Append(name, fmt.Sprint(c.Den), fmt.Sprint(c.Num), acc, ci); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	return writeConfusion(w, r.Confusion)
}

// writeConfusion prints the confusion matrix, true classes in rows and
// predictions in columns, for up to 20 classes (JSON has it always).
func writeConfusion(w io.Writer, m [][]int) error {
	if len(m) == 0 || len(m) > 20 {
		return nil
	}
	fmt.Fprintf(w, "\nconfusion (rows: true class, columns: predicted)\n")
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowAlignment(tw.AlignRight))
	header := []any{""}
	for j := range m {
		header = append(header, fmt.Sprint(j))
	}
	t.Header(header...)
	for i, row := range m {
		cells := []any{fmt.Sprint(i)}
		for _, v := range row {
			cells = append(cells, fmt.Sprint(v))
		}
		if err := t.Append(cells...); err != nil {
			return err
		}
	}
	return t.Render()
}

// WriteGradText renders a gradient's summary for people: the file written,
// the loss (with labels) and the gradient's norms.
func WriteGradText(w io.Writer, r *GradResult) error {
	n := 0
	if len(r.Shape) > 0 {
		n = r.Shape[0]
	}
	fmt.Fprintf(w, "wrote %s: %s gradient of %d images (%s)\n", r.Out, r.Mode, n, shapeString(r.Shape))
	if r.Loss != nil {
		fmt.Fprintf(w, "loss (sum CE) %.6g\n", *r.Loss)
	}
	_, err := fmt.Fprintf(w, "‖g‖∞ %.6g  ‖g‖₂ %.6g  compute %.3f s\n", r.GradLinf, r.GradL2, r.ComputeSeconds)
	return err
}
