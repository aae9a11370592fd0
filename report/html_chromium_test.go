//go:build unix

package report

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The HTML report is opened in headless Chromium (Debian's chromium; CI
// installs it) through the DevTools protocol, spoken over a WebSocket by
// the small client below (standard library only). The test collects
// every console message, uncaught exception, browser log entry and
// network request while the page loads, then asks the page for each
// figure's SVG: present, laid out with a non-zero size, drawing what a
// plot of its kind draws.

// findChromium returns the browser to test with, or "" when there is none.
func findChromium() string {
	if p := os.Getenv("ADVMATRIX_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium started for one test.
type browser struct {
	cmd     *exec.Cmd
	devtool string // ws://127.0.0.1:PORT/devtools/browser/ID
	stderr  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var devtoolsLine = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

func startBrowser(t *testing.T, exe string) *browser {
	t.Helper()
	cmd := exec.Command(exe,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
		"--disable-component-update", "--no-first-run", "--no-default-browser-check",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
		"--window-size=1280,900", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its helpers stop with it
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	b := &browser{cmd: cmd, stderr: &lockedBuffer{}}
	t.Cleanup(b.stop)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(b.stderr, line)
			if m := devtoolsLine.FindStringSubmatch(line); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		io.Copy(io.Discard, pipe)
	}()
	select {
	case b.devtool = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("chromium did not announce its DevTools endpoint in 60 s; stderr:\n%s", b.stderr.String())
	}
	return b
}

func (b *browser) stop() {
	if b.cmd.Process == nil {
		return
	}
	// The process group holds the browser and the helpers it started.
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	_ = b.cmd.Wait()
}

// newPage opens a blank tab of its own (so that no message of another
// page is replayed into its session) and returns its WebSocket URL; the
// tab is closed when the test ends.
func (b *browser) newPage(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(b.devtool)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPut, "http://"+u.Host+"/json/new?about:blank", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("new tab: %v", err)
	}
	defer resp.Body.Close()
	var tg struct {
		ID                   string `json:"id"`
		WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tg); err != nil || tg.WebSocketDebuggerURL == "" {
		t.Fatalf("new tab: %s, %v", resp.Status, err)
	}
	t.Cleanup(func() {
		if r, err := http.Get("http://" + u.Host + "/json/close/" + tg.ID); err == nil {
			r.Body.Close()
		}
	})
	return tg.WebSocketDebuggerURL
}

// wsConn is a minimal RFC 6455 client: text frames out (masked, as
// clients must), text frames in (reassembled), pings answered.
type wsConn struct {
	c  net.Conn
	r  *bufio.Reader
	mu sync.Mutex // writes
}

func dialWS(rawURL string) (*wsConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", u.RequestURI(), u.Host, key)
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		c.Close()
		return nil, fmt.Errorf("websocket handshake with %s: %s", u.Host, resp.Status)
	}
	return &wsConn{c: c, r: r}, nil
}

func (w *wsConn) writeFrame(op byte, payload []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	hdr := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	var mask [4]byte
	rand.Read(mask[:])
	hdr = append(hdr, mask[:]...)
	buf := make([]byte, len(payload))
	for i, b := range payload {
		buf[i] = b ^ mask[i%4]
	}
	_, err := w.c.Write(append(hdr, buf...))
	return err
}

// read returns the next text message.
func (w *wsConn) read() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.r, h[:]); err != nil {
			return nil, err
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var e [2]byte
			if _, err := io.ReadFull(w.r, e[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(e[:]))
		case 127:
			var e [8]byte
			if _, err := io.ReadFull(w.r, e[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(e[:])
		}
		var mask [4]byte
		masked := h[1]&0x80 != 0
		if masked {
			if _, err := io.ReadFull(w.r, mask[:]); err != nil {
				return nil, err
			}
		}
		if n > 256<<20 {
			return nil, fmt.Errorf("websocket frame of %d bytes", n)
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(w.r, p); err != nil {
			return nil, err
		}
		if masked {
			for i := range p {
				p[i] ^= mask[i%4]
			}
		}
		switch op {
		case 0x8:
			return nil, io.EOF
		case 0x9:
			if err := w.writeFrame(0xA, p); err != nil {
				return nil, err
			}
			continue
		case 0xA:
			continue
		}
		msg = append(msg, p...)
		if fin {
			return msg, nil
		}
	}
}

// cdp is a DevTools protocol session on one page: calls wait for their
// reply; events are kept in order.
type cdp struct {
	ws      *wsConn
	mu      sync.Mutex
	nextID  int
	replies map[int]chan cdpMessage
	events  []cdpMessage
	notify  chan struct{}
	readErr error
}

type cdpMessage struct {
	ID     int             `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func newCDP(ws *wsConn) *cdp {
	c := &cdp{ws: ws, replies: map[int]chan cdpMessage{}, notify: make(chan struct{}, 1)}
	go func() {
		for {
			b, err := ws.read()
			if err != nil {
				c.mu.Lock()
				c.readErr = err
				for _, ch := range c.replies {
					close(ch)
				}
				c.replies = map[int]chan cdpMessage{}
				c.mu.Unlock()
				return
			}
			var m cdpMessage
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			c.mu.Lock()
			if m.ID != 0 {
				if ch := c.replies[m.ID]; ch != nil {
					ch <- m
					delete(c.replies, m.ID)
				}
			} else {
				c.events = append(c.events, m)
				select {
				case c.notify <- struct{}{}:
				default:
				}
			}
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *cdp) call(method string, params any, result any) error {
	c.mu.Lock()
	if c.readErr != nil {
		c.mu.Unlock()
		return c.readErr
	}
	c.nextID++
	id := c.nextID
	ch := make(chan cdpMessage, 1)
	c.replies[id] = ch
	c.mu.Unlock()
	if params == nil {
		params = struct{}{}
	}
	b, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	if err := c.ws.writeFrame(0x1, b); err != nil {
		return err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: connection closed", method)
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if result != nil {
			return json.Unmarshal(m.Result, result)
		}
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%s: no reply in 60 s", method)
	}
}

// waitEvent waits for an event of the method.
func (c *cdp) waitEvent(method string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		for _, e := range c.events {
			if e.Method == method {
				c.mu.Unlock()
				return nil
			}
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-deadline:
			return fmt.Errorf("no %s in %v", method, timeout)
		}
	}
}

func (c *cdp) eventList() []cdpMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]cdpMessage(nil), c.events...)
}

// pageProblems are what the browser reported while loading: console
// errors and warnings, uncaught exceptions, log entries of level warning
// or error (failed loads, Content Security Policy violations, …) and
// requests for anything but the page itself.
func pageProblems(events []cdpMessage, pageURL string) []string {
	var out []string
	for _, e := range events {
		switch e.Method {
		case "Runtime.consoleAPICalled":
			var p struct {
				Type string `json:"type"`
				Args []struct {
					Value       any    `json:"value"`
					Description string `json:"description"`
				} `json:"args"`
			}
			json.Unmarshal(e.Params, &p)
			if p.Type == "error" || p.Type == "warning" || p.Type == "assert" {
				var parts []string
				for _, a := range p.Args {
					parts = append(parts, fmt.Sprint(a.Value, a.Description))
				}
				out = append(out, "console."+p.Type+": "+strings.Join(parts, " "))
			}
		case "Runtime.exceptionThrown":
			var p struct {
				ExceptionDetails struct {
					Text      string `json:"text"`
					Exception struct {
						Description string `json:"description"`
					} `json:"exception"`
				} `json:"exceptionDetails"`
			}
			json.Unmarshal(e.Params, &p)
			out = append(out, "exception: "+p.ExceptionDetails.Text+" "+p.ExceptionDetails.Exception.Description)
		case "Log.entryAdded":
			var p struct {
				Entry struct {
					Source, Level, Text, URL string
				} `json:"entry"`
			}
			json.Unmarshal(e.Params, &p)
			if p.Entry.Level == "error" || p.Entry.Level == "warning" {
				out = append(out, fmt.Sprintf("log %s (%s): %s %s", p.Entry.Level, p.Entry.Source, p.Entry.Text, p.Entry.URL))
			}
		case "Network.requestWillBeSent":
			var p struct {
				Request struct{ URL string } `json:"request"`
			}
			json.Unmarshal(e.Params, &p)
			if u := p.Request.URL; u != pageURL && !strings.HasPrefix(u, "data:") {
				out = append(out, "request: "+u)
			}
		case "Network.loadingFailed":
			var p struct {
				ErrorText     string `json:"errorText"`
				BlockedReason string `json:"blockedReason"`
			}
			json.Unmarshal(e.Params, &p)
			out = append(out, "loading failed: "+p.ErrorText+" "+p.BlockedReason)
		}
	}
	return out
}

// figureReport is what the page says about one figure.
type figureReport struct {
	ID, Kind         string
	SVGs             int
	Width, Height    float64 // the <svg>'s laid-out box, CSS pixels
	BoxW, BoxH       float64 // the bounding box of what it draws
	Paths, Texts     int
	Images, ImagesOK int // <image> elements; those whose data decoded
	Title            string
	Clipped          []string // texts reaching outside the <svg>
}

const figureProbe = `(async () => {
  const out = [];
  for (const f of document.querySelectorAll('figure.plot')) {
    const svgs = f.querySelectorAll('svg');
    const r = {ID: f.id, Kind: f.dataset.kind, SVGs: svgs.length};
    const s = svgs[0];
    if (s) {
      const b = s.getBoundingClientRect();
      r.Width = b.width; r.Height = b.height;
      const bb = s.getBBox();
      r.BoxW = bb.width; r.BoxH = bb.height;
      r.Paths = s.querySelectorAll('path').length;
      r.Texts = s.querySelectorAll('text').length;
      const t = s.querySelector('title'); r.Title = t ? t.textContent : '';
      // Text drawn (partly) outside the figure is clipped away.
      r.Clipped = [];
      for (const e of s.querySelectorAll('text')) {
        const tb = e.getBoundingClientRect();
        if (tb.left < b.left - 1 || tb.right > b.right + 1 || tb.top < b.top - 1 || tb.bottom > b.bottom + 1) r.Clipped.push(e.textContent + " " + [b.left - tb.left, tb.right - b.right, b.top - tb.top, tb.bottom - b.bottom].map(x => x.toFixed(1)).join("/"));
      }
      const imgs = [...s.querySelectorAll('image')];
      r.Images = imgs.length;
      r.ImagesOK = 0;
      for (const im of imgs) {
        const src = im.getAttribute('href') || im.getAttributeNS('http://www.w3.org/1999/xlink', 'href');
        const el = new Image();
        el.src = src;
        try { await el.decode(); if (el.naturalWidth > 0) r.ImagesOK++; } catch (e) {}
      }
    }
    out.push(r);
  }
  return JSON.stringify(out);
})()`

// loadPage opens a file in the browser, waits for it to load and settle,
// and returns the session.
func loadPage(t *testing.T, b *browser, path string) (*cdp, string) {
	t.Helper()
	ws, err := dialWS(b.newPage(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.c.Close() })
	c := newCDP(ws)
	for _, m := range []string{"Runtime.enable", "Log.enable", "Network.enable", "Page.enable"} {
		if err := c.call(m, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	pageURL := (&url.URL{Scheme: "file", Path: path}).String()
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := c.call("Page.navigate", map[string]string{"url": pageURL}, &nav); err != nil {
		t.Fatal(err)
	}
	if nav.ErrorText != "" {
		t.Fatalf("navigate to %s: %s", pageURL, nav.ErrorText)
	}
	if err := c.waitEvent("Page.loadEventFired", 60*time.Second); err != nil {
		t.Fatalf("%v; chromium stderr:\n%s", err, b.stderr.String())
	}
	// Let late messages (layout, fonts) arrive.
	var ready struct{ Result struct{ Value any } }
	if err := c.call("Runtime.evaluate", map[string]any{"expression": "document.fonts.ready.then(() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 200)))).then(() => document.readyState)", "awaitPromise": true, "returnByValue": true}, &ready); err != nil {
		t.Fatal(err)
	}
	return c, pageURL
}

func evalJSON(t *testing.T, c *cdp, expr string, v any) {
	t.Helper()
	var res struct {
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := c.call("Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &res); err != nil {
		t.Fatal(err)
	}
	if res.ExceptionDetails != nil {
		t.Fatalf("probe threw: %s", res.ExceptionDetails.Text)
	}
	if err := json.Unmarshal([]byte(res.Result.Value), v); err != nil {
		t.Fatalf("probe result %q: %v", res.Result.Value, err)
	}
}

func TestScenarioHTMLInChromium(t *testing.T) {
	exe := findChromium()
	if exe == "" {
		t.Skip("chromium not installed (Debian package chromium; CI installs it): the HTML report is not checked in a browser")
	}
	if testing.Short() {
		t.Skip("-short: the HTML report is not checked in a browser")
	}
	dir := t.TempDir()
	b := startBrowser(t, exe)

	// The harness sees problems: a page with a console error, an uncaught
	// exception and a blocked load must report all three.
	canary := filepath.Join(dir, "canary.html")
	os.WriteFile(canary, []byte(`<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'"></head>`+
		`<body><script>console.error("canary error"); setTimeout(() => { throw new Error("canary exception"); }, 0);</script><img src="https://example.invalid/x.png"></body></html>`), 0o644)
	cc, canaryURL := loadPage(t, b, canary)
	got := strings.Join(pageProblems(cc.eventList(), canaryURL), "\n")
	for _, want := range []string{"canary error", "canary exception", "example.invalid"} {
		if !strings.Contains(got, want) {
			t.Fatalf("the harness misses %q; it saw:\n%s", want, got)
		}
	}
	cc.ws.c.Close()

	for _, tc := range []struct {
		name string
		r    *ScenarioResult
	}{
		{"matrix18", htmlFixture(18, []float64{0.05, 0.1, 0.2})},
		{"small", htmlFixture(3, []float64{0.1, 0.2, 0.3})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".html")
			if err := os.WriteFile(path, renderHTML(t, tc.r), 0o644); err != nil {
				t.Fatal(err)
			}
			c, pageURL := loadPage(t, b, path)
			var figs []figureReport
			evalJSON(t, c, figureProbe, &figs)
			for _, p := range pageProblems(c.eventList(), pageURL) {
				t.Errorf("browser reported: %s", p)
			}
			kinds := map[string]int{}
			for _, f := range figs {
				kinds[f.Kind]++
				switch {
				case f.SVGs != 1:
					t.Errorf("figure %s: %d <svg> elements", f.ID, f.SVGs)
				case f.Width < 100 || f.Height < 100 || f.BoxW < 50 || f.BoxH < 50:
					t.Errorf("figure %s: laid out %.0f×%.0f px, drawing %.0f×%.0f", f.ID, f.Width, f.Height, f.BoxW, f.BoxH)
				case f.Title == "" || f.Texts < 5:
					t.Errorf("figure %s: title %q, %d texts", f.ID, f.Title, f.Texts)
				case f.Images != f.ImagesOK:
					t.Errorf("figure %s: %d of %d images decoded", f.ID, f.ImagesOK, f.Images)
				case len(f.Clipped) > 0:
					t.Errorf("figure %s: text cut off at the figure's edge (is a font with Liberation Sans's widths installed?): %q", f.ID, f.Clipped)
				}
				if f.Kind == "heatmap" {
					// A path per cell and two labels per cell (value,
					// case); the colour bar is an image.
					m := tc.r.Matrices[indexOf(figs, f)]
					cells := len(m.Attackers) * len(m.Victims)
					if f.Paths < cells || f.Texts < 2*cells || f.Images != 1 {
						t.Errorf("heat map %s: %d paths, %d texts, %d images for %d cells", f.ID, f.Paths, f.Texts, f.Images, cells)
					}
				}
			}
			groups := len(cellGroups(tc.r))
			if kinds["heatmap"] != len(tc.r.Matrices) || kinds["bars"] != groups || kinds["curve"] == 0 {
				t.Errorf("figures by kind %v; want %d heat maps, %d bar charts and curves", kinds, len(tc.r.Matrices), groups)
			}
			t.Logf("%d figures rendered: %v", len(figs), kinds)
		})
	}
}

// indexOf is the position of a heat map among the page's heat maps.
func indexOf(figs []figureReport, f figureReport) int {
	i := 0
	for _, g := range figs {
		if g.ID == f.ID {
			return i
		}
		if g.Kind == "heatmap" {
			i++
		}
	}
	panic(errors.New("figure not found"))
}
