package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// maxShown bounds the failing groups listed per rule in text output.
const maxShown = 10

// WriteGateText renders a verdict for people: each rule's outcome and, for
// a failing rule, the groups that failed and by how much.
func WriteGateText(w io.Writer, g *GateResult) error {
	passed := 0
	for _, r := range g.Rules {
		if r.Passed {
			passed++
		}
	}
	verdict := "PASS"
	if !g.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "gate %s: %d of %d rules passed (policy %s, results %s", verdict, passed, len(g.Rules), g.Policy, g.Results)
	if g.Baseline != "" {
		fmt.Fprintf(w, ", baseline %s", g.Baseline)
	}
	fmt.Fprintln(w, ")")
	for _, r := range g.Rules {
		mark := "PASS"
		if !r.Passed {
			mark = "FAIL"
		}
		failed := 0
		for _, c := range r.Groups {
			if !c.Passed {
				failed++
			}
		}
		fmt.Fprintf(w, "%s  %s — %s, judged on %s: %d of %d groups fail\n", mark, r.Name, r.Limit, judgeWords(r.Judge), failed, len(r.Groups))
		if r.Note != "" {
			fmt.Fprintf(w, "      note: %s\n", r.Note)
		}
		shown := 0
		for _, c := range r.Groups {
			if c.Passed || shown == maxShown {
				continue
			}
			fmt.Fprintf(w, "      %s: %s\n", c.Group, c.Detail)
			shown++
		}
		if failed > shown {
			fmt.Fprintf(w, "      … and %d more (--junit or --json lists them all)\n", failed-shown)
		}
	}
	return nil
}

func judgeWords(j string) string {
	switch j {
	case "bound":
		return "the 95% bound"
	case "estimate":
		return "the estimate"
	}
	return "paired per-image outcomes"
}

// WriteGateMarkdown renders a verdict for a pull request or a GitHub
// step summary.
func WriteGateMarkdown(w io.Writer, g *GateResult) error {
	verdict := "✅ passed"
	if !g.Passed {
		verdict = "❌ failed"
	}
	fmt.Fprintf(w, "### advmatrix gate %s\n\n", verdict)
	rows := [][]string{}
	for _, r := range g.Rules {
		failed := 0
		for _, c := range r.Groups {
			if !c.Passed {
				failed++
			}
		}
		mark := "✅"
		if !r.Passed {
			mark = "❌"
		}
		rows = append(rows, []string{mark, r.Name, r.Limit, r.Judge, fmt.Sprintf("%d/%d", failed, len(r.Groups))})
	}
	writeMarkdownTable(w, []string{"", "rule", "limit", "judged on", "failing groups"}, rows)
	if f := g.Failures(); len(f) > 0 {
		fmt.Fprintf(w, "\n<details><summary>%d failing groups</summary>\n\n", len(f))
		for _, line := range f {
			fmt.Fprintf(w, "- %s\n", line)
		}
		fmt.Fprintf(w, "\n</details>\n")
	}
	return nil
}

// WriteGitHubAnnotations prints one ::error:: workflow command per failing
// rule, which GitHub Actions shows on the run's summary.
func WriteGitHubAnnotations(w io.Writer, g *GateResult) {
	esc := func(s string) string {
		return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
	}
	for _, r := range g.Rules {
		if r.Passed {
			continue
		}
		var first string
		failed := 0
		for _, c := range r.Groups {
			if !c.Passed {
				if failed == 0 {
					first = c.Group + ": " + c.Detail
				}
				failed++
			}
		}
		fmt.Fprintf(w, "::error title=advmatrix gate: %s::%s",
			esc(strings.ReplaceAll(r.Name, "::", ":")), esc(fmt.Sprintf("%s — %d groups fail, e.g. %s", r.Limit, failed, first)))
		fmt.Fprintln(w)
	}
}

// JUnit XML, as CI systems read it: one test suite for the policy, one
// test case per rule and group.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the verdict as JUnit XML.
func WriteJUnit(w io.Writer, g *GateResult) error {
	s := junitSuite{Name: "advmatrix gate " + g.Policy}
	for _, r := range g.Rules {
		if len(r.Groups) == 0 {
			s.Cases = append(s.Cases, junitCase{Name: r.Name, ClassName: r.Name, SystemOut: r.Note})
			s.Tests++
			continue
		}
		for _, c := range r.Groups {
			jc := junitCase{Name: c.Group, ClassName: r.Name,
				SystemOut: fmt.Sprintf("%s; value %.4f (95%% CI %.4f–%.4f) over %d pairs", r.Limit, c.Value, c.Lo95, c.Hi95, c.Pairs)}
			if !c.Passed {
				jc.Failure = &junitFailure{Message: c.Detail, Text: r.Limit + ": " + c.Detail}
				s.Failures++
			}
			s.Tests++
			s.Cases = append(s.Cases, jc)
		}
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// ReadJUnit parses JUnit XML written by WriteJUnit: test and failure counts.
func ReadJUnit(r io.Reader) (tests, failures int, names []string, err error) {
	var s junitSuites
	if err := xml.NewDecoder(r).Decode(&s); err != nil {
		return 0, 0, nil, err
	}
	for _, suite := range s.Suites {
		tests += suite.Tests
		failures += suite.Failures
		for _, c := range suite.Cases {
			names = append(names, c.ClassName+" / "+c.Name)
		}
	}
	return tests, failures, names, nil
}
