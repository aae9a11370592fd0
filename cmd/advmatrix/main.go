// Command advmatrix measures how well adversarial examples transfer between
// image classifiers exported to ONNX, and how much defenses help.
//
// Exit codes: 0 done; 1 a gate failed; 2 usage or input error (bad file,
// bad model, unsupported op); 3 internal error.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

const (
	exitOK       = 0
	exitGate     = 1
	exitInput    = 2
	exitInternal = 3
)

// exitError carries an exit code other than the default for its error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "advmatrix",
		Short: "Measure adversarial transferability between ONNX image classifiers",
		Long: `advmatrix loads image classifiers exported to ONNX, computes their logits and
gradients exactly, and measures how adversarial examples crafted on some models
fool others.

Images are float32 N×C×H×W in [0,1]; any normalisation belongs inside the model.
Data specs: mnist[:train|test], fashion-mnist[:split][@DIR], syndigits[:split],
cifar10:FILE.bin[,FILE.bin...], npy:X.npy[,Y.npy], npy:FILE.npz, folder:DIR.
Models: a path to an .onnx file, or zoo:NAME for an embedded model (zoo:lenet-mnist).

Exit codes: 0 done, 1 a gate failed, 2 usage or input error, 3 internal error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newInspectCmd(), newEvalCmd(), newGradCmd(), newAttackCmd(), newVersionCmd())
	root.AddCommand(newTrainCmd(), newZooCmd())
	return root
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the CLI and maps failures to exit codes; a panic is an
// internal error, reported without a stack trace unless ADVMATRIX_DEBUG is set.
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "advmatrix: internal error: %v\n", r)
			if os.Getenv("ADVMATRIX_DEBUG") != "" {
				fmt.Fprintf(stderr, "%s", debug.Stack())
			}
			code = exitInternal
		}
	}()
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "advmatrix: %v\n", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return exitInput
	}
	return exitOK
}
