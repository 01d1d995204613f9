package monitor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flowwatch/flowwatch/internal/didyoumean"
	"github.com/flowwatch/flowwatch/internal/model"
)

// maxNamesShown bounds the names a target warning lists.
const maxNamesShown = 8

// TargetWarning says that no trace of a monitor's target has been
// received, naming the services (or the service's deployments) that have
// been, closest first: a monitor may be applied before its app sends
// anything, but a mistyped service would only show as a no-data alert
// much later. It returns "" when the target has sent traces.
func TargetWarning(t model.MonitorTarget, seen []model.ServiceInfo) string {
	var services, deployments []string
	for _, s := range seen {
		services = append(services, s.Service)
		if s.Service == t.Service {
			if t.Deployment == "" || s.Deployment == t.Deployment {
				return ""
			}
			if s.Deployment != "" {
				deployments = append(deployments, s.Deployment)
			}
		}
	}
	if len(services) == 0 {
		return fmt.Sprintf("no trace has been received yet from any service: the monitor will find no data until service %q sends traces", t.Service)
	}
	if slices.Contains(services, t.Service) {
		msg := fmt.Sprintf("no trace of service %q has been received with deployment %q: the monitor will find no data until one arrives", t.Service, t.Deployment)
		if len(deployments) == 0 {
			return msg + "; its traces so far carry no deployment.name (leave target.deployment out to watch them)"
		}
		return msg + "; deployments seen: " + listClosest(t.Deployment, deployments)
	}
	return fmt.Sprintf("no trace of service %q has been received yet: the monitor will find no data until one arrives; services seen: %s",
		t.Service, listClosest(t.Service, services))
}

// listClosest lists names closest to want first, with a "did you mean"
// when the closest is near enough to be a typo.
func listClosest(want string, names []string) string {
	ranked := didyoumean.Rank(want, names)
	shown := ranked[:min(len(ranked), maxNamesShown)]
	quoted := make([]string, len(shown))
	for i, n := range shown {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	out := strings.Join(quoted, ", ")
	if n := len(ranked) - len(shown); n > 0 {
		out += fmt.Sprintf(" and %d more", n)
	}
	if m := didyoumean.Closest(want, shown); m != "" {
		out += fmt.Sprintf(" (did you mean %q?)", m)
	}
	return out
}
