package build

import (
	"strconv"
	"strings"

	"github.com/advmatrix/advmatrix/datasets"
	"github.com/advmatrix/advmatrix/defenses"
	"github.com/advmatrix/advmatrix/report"
	"github.com/advmatrix/advmatrix/train"
)

// TrainReport is what `advmatrix train` reports.
type TrainReport struct {
	Schema      string `json:"schema"`
	ToolVersion string `json:"tool_version"`
	StartedAt   string `json:"started_at"`
	Arch        string `json:"arch"`
	// From is the model fine-tuned (train --from), instead of Arch.
	From    *report.ModelRef `json:"from,omitempty"`
	Model   report.ModelRef  `json:"model"` // the file written
	Data    report.DataRef   `json:"data"`  // the training data, after --limit, before balancing
	Balance *Balance         `json:"balance,omitempty"`
	// Poison is the backdoor poisoning of the training data (--poison),
	// and Backdoor the model's response to its trigger on the test data.
	Poison       *defenses.Poisoning `json:"poison,omitempty"`
	TrainImages  int                 `json:"train_images"` // after balancing, before the validation split
	ValImages    int                 `json:"val_images"`
	ClassCounts  []int               `json:"class_counts"`
	Seed         uint64              `json:"seed"`
	Hyper        Hyper               `json:"hyper"`
	Augment      bool                `json:"augment"`
	ValFraction  float64             `json:"val_fraction"`
	Patience     int                 `json:"patience"`
	EpochsWanted int                 `json:"epochs_requested"`
	EpochsRun    int                 `json:"epochs_run"`
	BestEpoch    int                 `json:"best_epoch"`  // the epoch whose weights were written
	Epochs       []train.EpochStats  `json:"epoch_stats"` // one entry per epoch run
	// TrainAccuracy is the last epoch's running accuracy on the training
	// images; ValAccuracy that of the written weights on the validation
	// split (absent without one); Test that on the test data.
	TrainAccuracy   float64          `json:"train_accuracy"`
	ValAccuracy     *float64         `json:"val_accuracy,omitempty"`
	Test            *Accuracy        `json:"test,omitempty"`
	TestData        *report.DataRef  `json:"test_data,omitempty"`
	Backdoor        *report.Backdoor `json:"backdoor,omitempty"`
	TrainSeconds    float64          `json:"train_seconds"`
	WallSeconds     float64          `json:"wall_seconds"`
	ImagesPerSecond float64          `json:"images_per_second"`
	// TrainImagesPerSecond counts the training steps' time only
	// (evaluation excluded), to compare training speed.
	TrainImagesPerSecond float64 `json:"train_images_per_second"`
}

// DefaultTestSpec is the test split of the source a training data spec
// names — mnist:train gives mnist:test, fashion-mnist:train@DIR gives
// fashion-mnist:test@DIR, syndigits:train[:N[:SEED]] gives
// syndigits:test[:10000:SEED] — or "" when there is none: the source has
// no splits (npy, folder, cifar10) or the spec already names its test
// split, which would test on the training data.
func DefaultTestSpec(spec string) string {
	scheme, arg, err := datasets.ParseSpec(spec)
	if err != nil {
		return ""
	}
	switch scheme {
	case "mnist":
		if arg == "train" {
			return "mnist:test"
		}
	case "fashion-mnist":
		split, dir, found := strings.Cut(arg, "@")
		if split == "train" {
			if found {
				return "fashion-mnist:test@" + dir
			}
			return "fashion-mnist:test"
		}
	case "syndigits":
		parts := strings.Split(arg, ":")
		if parts[0] == "train" {
			if len(parts) == 3 {
				if _, err := strconv.ParseUint(parts[2], 10, 64); err == nil {
					return "syndigits:test:10000:" + parts[2]
				}
			}
			return "syndigits:test"
		}
	}
	return ""
}
