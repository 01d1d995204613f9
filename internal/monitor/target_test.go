package monitor

import (
	"testing"

	"github.com/flowwatch/flowwatch/internal/model"
)

func TestTargetWarning(t *testing.T) {
	seen := []model.ServiceInfo{
		{Service: "rag-app", Deployment: "blue"},
		{Service: "rag-app", Deployment: "green"},
		{Service: "chat-app"},
		{Service: "rag-1234-endpoint", Deployment: "rag-1234-deployment"},
	}
	tests := []struct {
		name   string
		target model.MonitorTarget
		seen   []model.ServiceInfo
		want   string
	}{
		{name: "service seen", target: model.MonitorTarget{Service: "chat-app"}, seen: seen, want: ""},
		{name: "service and deployment seen", target: model.MonitorTarget{Service: "rag-app", Deployment: "green"}, seen: seen, want: ""},
		{
			name:   "typo in the service",
			target: model.MonitorTarget{Service: "rag-ap", Deployment: "blue"},
			seen:   seen,
			want:   `no trace of service "rag-ap" has been received yet: the monitor will find no data until one arrives; services seen: "rag-app", "chat-app", "rag-1234-endpoint" (did you mean "rag-app"?)`,
		},
		{
			name:   "unknown deployment",
			target: model.MonitorTarget{Service: "rag-app", Deployment: "bleu"},
			seen:   seen,
			want:   `no trace of service "rag-app" has been received with deployment "bleu": the monitor will find no data until one arrives; deployments seen: "blue", "green" (did you mean "blue"?)`,
		},
		{
			name:   "deployment of a service without deployments",
			target: model.MonitorTarget{Service: "chat-app", Deployment: "prod"},
			seen:   seen,
			want:   `no trace of service "chat-app" has been received with deployment "prod": the monitor will find no data until one arrives; its traces so far carry no deployment.name (leave target.deployment out to watch them)`,
		},
		{
			name:   "nothing received",
			target: model.MonitorTarget{Service: "rag-app"},
			want:   `no trace has been received yet from any service: the monitor will find no data until service "rag-app" sends traces`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TargetWarning(tt.target, tt.seen); got != tt.want {
				t.Errorf("TargetWarning() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
