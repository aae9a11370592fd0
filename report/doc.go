// Package report holds advmatrix's results: the schema written as JSON,
// the statistics behind it (accuracies with Wilson intervals, the three
// attack-success definitions the literature mixes up), and the renderings
// for people (tables, Markdown).
package report
