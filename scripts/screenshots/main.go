// Command screenshots takes the README's pictures of the dashboard from the
// real UI: it runs `flowwatch demo` in-process on a temporary data
// directory and, once the dashboard is ready, has headless Chromium save
// the overview, the Generation quality and Operational views of the demo
// service, a trace that a judge failed, and the overview in the dark theme.
//
// Run it with `make screenshots` (it needs Chromium: apt-get install
// chromium).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/flowwatch/flowwatch/internal/demo"
)

func main() {
	out := flag.String("out", "docs/screenshots", "directory the PNG files are written to")
	width := flag.Int("width", 1280, "browser window width in CSS pixels")
	height := flag.Int("height", 1400, "browser window height in CSS pixels (the pictures show this much of each page)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("screenshots: ")
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	chrome, err := findChromium()
	if err != nil {
		log.Fatal(err)
	}
	data, err := os.MkdirTemp("", "flowwatch-screenshots-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(data)

	var shotErr error
	err = demo.Run(context.Background(), demo.Options{
		DataDir: filepath.Join(data, "demo"), HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
		Out: io.Discard, KeepRunning: false, Traces: 600, Seed: 1,
		Ready: func(r demo.Result) {
			shotErr = take(chrome, *width, *height, *out, r)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	if shotErr != nil {
		log.Fatal(shotErr)
	}
}

func findChromium() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH (apt-get install chromium)")
}

// take saves the pictures of a running demo.
func take(chrome string, width, height int, out string, r demo.Result) error {
	failed, err := failedTrace(r)
	if err != nil {
		return err
	}
	svc := "/services/nimbus-assistant"
	shots := []struct {
		name, path string
		dark       bool
	}{
		{"home", "/?range=1h", false},
		{"quality", svc + "/quality?range=1h", false},
		{"operational", svc + "/operational?range=1h", false},
		{"tokens", svc + "/tokens?range=1h", false},
		{"trace", "/traces/" + failed, false},
		{"home-dark", "/?range=1h", true},
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("hide-scrollbars", true), chromedp.WindowSize(width, height))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()
	for _, s := range shots {
		scheme := "light"
		if s.dark {
			scheme = "dark"
		}
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			return fmt.Errorf("%s: colour scheme: %w", s.name, err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(r.BaseURL+s.path), chromedp.WaitVisible(chromedp.CSS("main"))); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			return fmt.Errorf("screenshot %s: %w", s.name, err)
		}
		path := filepath.Join(out, s.name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			return err
		}
		log.Printf("%s (%d KB)", path, len(png)>>10)
	}
	return nil
}

// failedTrace returns a trace whose answer the run failed.
func failedTrace(r demo.Result) (string, error) {
	resp, err := http.Get(r.BaseURL + "/api/v1/runs/" + r.Run.ID + "/instances?passed=false&limit=1")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var page struct {
		Instances []struct {
			TraceID string `json:"trace_id"`
		} `json:"instances"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return "", fmt.Errorf("instances of run %s: %w", r.Run.ID, err)
	}
	if len(page.Instances) == 0 {
		return "", fmt.Errorf("run %s failed no instance", r.Run.ID)
	}
	return page.Instances[0].TraceID, nil
}
