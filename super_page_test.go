//go:build linux

package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// findBrowser returns a headless-capable Chromium on PATH or skips the
// test loudly: .ci/run installs chromium, a bare machine may not have it.
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("SKIPPED: no chromium on PATH (apt-get install chromium) — the status page was not checked in a browser")
	return ""
}

// runBrowser runs headless Chromium on url with extra flags and returns its
// stdout. --virtual-time-budget lets the page's fetch and redraw finish
// before Chromium dumps or shoots (virtual time waits for the network, so
// this is not a sleep); the context is the deadline. Chromium runs in its
// own process group, killed whole, so no renderer outlives the test.
func runBrowser(t *testing.T, browser, url string, flags ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000"}, flags...)
	cmd := exec.CommandContext(ctx, browser, append(args, url)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers only; ESRCH is the normal case
	}
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", browser, flags, err, stderr.String())
	}
	return out
}

// The status page renders its node table in a real headless browser
// against the real binary: the script fetches /status and fills one row
// per node.
func TestStatusPageRendersNodeTable(t *testing.T) {
	browser := findBrowser(t)
	_, base, pids := startWithHTTP(t)
	dom := string(runBrowser(t, browser, base+"/", "--dump-dom"))
	if !strings.Contains(dom, `data-rendered="`) {
		t.Fatalf("the page never rendered /status; DOM:\n%s", dom)
	}
	for id, pid := range pids {
		row := `id="node-` + strconv.Itoa(id) + `"`
		if !strings.Contains(dom, row) {
			t.Errorf("rendered page has no row %s", row)
		}
		if !strings.Contains(dom, ">"+strconv.Itoa(pid)+"<") {
			t.Errorf("rendered page does not show node %d's pid %d", id, pid)
		}
	}
	if !strings.Contains(dom, "2 of 2 nodes running") {
		t.Errorf("rendered page lacks the summary; DOM:\n%s", dom)
	}
}

// cannedStatus follows /status as issue12-SPEC.md fixes it: three nodes
// (node 2 down with two exits), five partitions with lag histories, one
// retrying (orders/3), one stale (orders/2, owner down), one with nothing
// known yet (payments/0: nulls), failures, and an error holding markup.
const cannedStatus = `{"process_id":4242,"loop_age_ms":3,"quiet":true,"stopping":false,
 "nodes":[
  {"id":0,"pid":5100,"state":"running","last_status":0,"last_report_age_ms":120,"restarts":0,
   "rss_bytes":52428800,"garbage_lines":0,"stats_age_ms":800,"records_per_s":950.5,
   "handled":1200,"failed":0,"retried":0,"dead_lettered":0,"skipped":0,"produced":0,"exits":[],"failures":[]},
  {"id":1,"pid":5101,"state":"stopping","last_status":4,"last_report_age_ms":300,"restarts":0,
   "rss_bytes":41943040,"garbage_lines":1,"stats_age_ms":900,"records_per_s":0,
   "handled":7,"failed":3,"retried":2,"dead_lettered":1,"skipped":0,"produced":0,"exits":[],
   "failures":[{"route":0,"topic":"orders","partition":3,"offset":5012,
     "error":"refused <script>document.title='owned'</script> key 5","at":"2026-11-29T12:00:00Z"}]},
  {"id":2,"state":"down","last_status":3,"last_report_age_ms":null,"restarts":2,"last_exit":"signal SIGKILL",
   "rss_bytes":0,"garbage_lines":0,"stats_age_ms":null,"records_per_s":null,
   "handled":null,"failed":null,"retried":null,"dead_lettered":null,"skipped":null,"produced":null,
   "exits":[{"at":"2026-11-29T11:58:00Z","exit":"exit 1","status":0,"uptime_ms":5000,"reason":"crash"},
            {"at":"2026-11-29T11:59:30Z","exit":"signal SIGKILL","status":3,"uptime_ms":61000,"reason":"memory"}],
   "failures":[{"route":0,"topic":"orders","partition":2,"offset":77,"error":"handler exit 2","at":"2026-11-29T11:59:00Z"}]}],
 "partitions":[
  {"group":"g1","topic":"orders","partition":0,"node":0,"route":0,"handled":900,"committed":900,"high_watermark":900,
   "lag":0,"stale":false,"paused":false,"lag_history":[5,3,0]},
  {"group":"g1","topic":"orders","partition":1,"node":0,"route":0,"handled":880,"committed":880,"high_watermark":1000,
   "lag":120,"stale":false,"paused":false,"lag_history":[10,40,80,100,130,120,150,170,160,190,220,210,200,180,170,150,140,130,125,120]},
  {"group":"g1","topic":"orders","partition":2,"node":2,"route":0,"handled":60,"committed":60,"high_watermark":100,
   "lag":40,"stale":true,"paused":false,"lag_history":[20,null,40]},
  {"group":"g1","topic":"orders","partition":3,"node":1,"route":0,"handled":5012,"committed":5000,"high_watermark":5100,
   "lag":100,"stale":false,"paused":true,"attempt":2,"next_try":"2026-11-29T12:00:01Z","lag_history":[0,0,0,40,80,100,100,100,100,95,100,90,100]},
  {"group":"g2","topic":"payments","partition":0,"node":1,"route":1,"handled":null,"committed":null,"high_watermark":null,
   "lag":null,"stale":false,"paused":false,"lag_history":[]}]}`

// The whole swarm view in a real headless browser against the real page
// handler and a canned /status: every node and partition, who owns what,
// the retrying partition highlighted, sparklines, exit reasons, failures,
// "-" for nulls, and markup from a node rendered as text. Screenshots at
// phone and desktop width land in the test's artifact dir for a person
// (go test -artifacts -outputdir DIR keeps them; else a temp dir).
func TestStatusPageRendersSwarm(t *testing.T) {
	browser := findBrowser(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", (&statusServer{}).page)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(cannedStatus))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dom := string(runBrowser(t, browser, srv.URL+"/", "--dump-dom"))
	if !strings.Contains(dom, `data-rendered="`) {
		t.Fatalf("the page never rendered /status; DOM:\n%s", dom)
	}
	checkPageNodes(t, dom)
	checkPagePartitions(t, dom)
	checkPageHistory(t, dom)
	// A temp dir like t.TempDir, kept under -outputdir with -artifacts.
	dir := t.ArtifactDir()
	for _, width := range []int{390, 1280} {
		png := filepath.Join(dir, "status-"+strconv.Itoa(width)+".png")
		runBrowser(t, browser, srv.URL+"/", "--screenshot="+png, "--window-size="+strconv.Itoa(width)+",1200")
		if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("screenshot %s: not a PNG (%v)", png, err)
		}
		t.Logf("screenshot at %d px wide: %s", width, png)
	}
}

// domElement returns the element whose opening tag matches open (a
// regexp) up to its first closing tag, or fails.
func domElement(t *testing.T, dom, open, tag string) string {
	t.Helper()
	loc := regexp.MustCompile(open).FindStringIndex(dom)
	if loc == nil {
		t.Fatalf("rendered page has no %s", open)
	}
	end := strings.Index(dom[loc[0]:], "</"+tag+">")
	if end < 0 {
		t.Fatalf("rendered page: %s is not closed", open)
	}
	return dom[loc[0] : loc[0]+end]
}

// domCell returns the class and text of the cell labelled label in a
// rendered row (the page labels every cell for its phone layout).
func domCell(t *testing.T, row, label string) (class, text string) {
	t.Helper()
	m := regexp.MustCompile(`<td([^>]* data-label="` + regexp.QuoteMeta(label) + `"[^>]*)>([^<]*)<`).FindStringSubmatch(row)
	if m == nil {
		t.Errorf("row has no cell %q: %s", label, row)
		return "", ""
	}
	if c := regexp.MustCompile(`class="([^"]*)"`).FindStringSubmatch(m[1]); c != nil {
		class = c[1]
	}
	return class, m[2]
}

// checkPageNodes: the summary, one row per node with its status meaning,
// and "-" where the JSON has null.
func checkPageNodes(t *testing.T, dom string) {
	t.Helper()
	for _, want := range []string{"supervisor pid 4242", "1 of 3 nodes running", ">quiet<"} {
		if !strings.Contains(domElement(t, dom, `<div id="summary"`, "div"), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	for id, want := range map[int][]string{
		0: {">running<", ">0 healthy<", ">5100<", ">950.5<", ">50.0 MiB<"},
		1: {">stopping<", ">4 partition stalled<", ">5101<", ">7 / 3 / 2 / 1<"},
		2: {">down<", ">3 over memory limit<", ">signal SIGKILL<"},
	} {
		row := domElement(t, dom, `<tr id="node-`+strconv.Itoa(id)+`"`, "tr")
		for _, w := range want {
			if !strings.Contains(row, w) {
				t.Errorf("node %d row lacks %s: %s", id, w, row)
			}
		}
		if id == 2 {
			for _, label := range []string{"pid", "records/s", "last report", "RSS"} {
				if _, text := domCell(t, row, label); text != "-" {
					t.Errorf("node 2 (down, nulls): %s %q, want -", label, text)
				}
			}
		}
	}
}

// checkPagePartitions: one row per partition, its owner marked in its
// node's column, the retrying one highlighted with attempt and next try,
// the stale one greyed, nulls as "-", and a sparkline per history.
func checkPagePartitions(t *testing.T, dom string) {
	t.Helper()
	for _, tc := range []struct {
		key, class string
		owner      int
		lag        string
		points     int
		want       []string
	}{
		{"g1/orders/0", "", 0, "0", 3, []string{">active<"}},
		{"g1/orders/1", "", 0, "120", 20, nil},
		{"g1/orders/2", "stale", 2, "40", 0, []string{">stale<"}},
		{"g1/orders/3", "paused", 1, "100", 13, []string{"retrying: attempt 2, next try 12:00:01Z"}},
		{"g2/payments/0", "", 1, "-", 0, []string{">-</td>"}},
	} {
		row := domElement(t, dom, `<tr[^>]* id="part-`+regexp.QuoteMeta(tc.key)+`"`, "tr")
		class := ""
		if m := regexp.MustCompile(`^<tr[^>]* class="([^"]*)"`).FindStringSubmatch(row); m != nil {
			class = m[1]
		}
		if class != tc.class {
			t.Errorf("%s: row class %q, want %q", tc.key, class, tc.class)
		}
		if class, text := domCell(t, row, "node "+strconv.Itoa(tc.owner)); strings.Count(row, `"own wide"`) != 1 ||
			class != "own wide" || text == "" {
			t.Errorf("%s: owner node %d not marked alone: %s", tc.key, tc.owner, row)
		}
		if _, text := domCell(t, row, "lag"); text != tc.lag {
			t.Errorf("%s: lag %q, want %s", tc.key, text, tc.lag)
		}
		if !strings.Contains(row, `<svg class="spark"`) {
			t.Errorf("%s: no sparkline SVG: %s", tc.key, row)
		}
		if pts := regexp.MustCompile(`<polyline points="([^"]*)"`).FindStringSubmatch(row); tc.points > 0 &&
			(pts == nil || len(strings.Fields(pts[1])) != tc.points) {
			t.Errorf("%s: sparkline %v, want %d points: %s", tc.key, pts, tc.points, row)
		}
		for _, w := range tc.want {
			if !strings.Contains(row, w) {
				t.Errorf("%s: row lacks %s: %s", tc.key, w, row)
			}
		}
	}
}

// checkPageHistory: each exit with its reason, the failures with their
// offsets, and the node's "<script>" shown as text, not run as markup.
func checkPageHistory(t *testing.T, dom string) {
	t.Helper()
	exits := domElement(t, dom, `<tbody id="exits"`, "tbody")
	for _, want := range []string{`data-label="reason">crash<`, `data-label="reason">memory<`, ">61.0 s<", ">11:59:30Z<"} {
		if !strings.Contains(exits, want) {
			t.Errorf("restart history lacks %s: %s", want, exits)
		}
	}
	failures := dom[strings.Index(dom, `<tbody id="failures"`):]
	for _, want := range []string{">5012<", ">77<", ">handler exit 2<", "&lt;script&gt;document.title='owned'&lt;/script&gt;"} {
		if !strings.Contains(failures, want) {
			t.Errorf("failures lack %s: %s", want, failures)
		}
	}
	if n := strings.Count(dom, "<script"); n != 1 || strings.Contains(dom, "<title>owned") {
		t.Errorf("a node's error became markup: %d <script> elements, want the page's own", n)
	}
}

// The page as served: HTML with a policy that pins its own script and
// style, and nothing in it that could load from elsewhere or write markup
// from data.
func TestStatusPageIsSelfContained(t *testing.T) {
	rec := httptest.NewRecorder()
	(&statusServer{}).page(rec, httptest.NewRequest("GET", "/", nil))
	body, h := rec.Body.String(), rec.Header()
	if rec.Code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %q", rec.Code, h.Get("Content-Type"))
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "script-src " + cspHash(pageJS), "style-src " + cspHash(pageCSS)} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	for _, bad := range []string{"http://", "https://", "src=", "href=", "url(", "@import", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"} {
		if strings.Contains(body, bad) {
			t.Errorf("page holds %q: it must load nothing and build its DOM from text", bad)
		}
	}
	if !strings.Contains(body, "<script>"+pageJS+"</script>") || !strings.Contains(body, "<style>"+pageCSS+"</style>") {
		t.Errorf("page's inline script or style differs from what the policy hashes")
	}
}
