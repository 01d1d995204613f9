package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Placeholders until the alert tables land.

var errNoAlerts = errors.New("sqlite: alerts are not implemented yet")

func (s *Store) ListAlerts(ctx context.Context, q store.AlertQuery) (store.AlertPage, error) {
	return store.AlertPage{}, errNoAlerts
}
func (s *Store) GetAlert(ctx context.Context, id string) (model.Alert, error) {
	return model.Alert{}, errNoAlerts
}
func (s *Store) AlertNotifications(ctx context.Context, alertID string) ([]model.Notification, error) {
	return nil, errNoAlerts
}
func (s *Store) DueChannels(ctx context.Context, now time.Time) ([]string, error) {
	return nil, errNoAlerts
}
func (s *Store) ClaimNotifications(ctx context.Context, owner, channel string, now time.Time, lease time.Duration, limit int) ([]model.Notification, error) {
	return nil, errNoAlerts
}
func (s *Store) SettleNotification(ctx context.Context, id, owner string, status model.NotificationStatus, next time.Time, errMsg string, now time.Time) error {
	return errNoAlerts
}
func (s *Store) GetNotification(ctx context.Context, id string) (model.Notification, error) {
	return model.Notification{}, errNoAlerts
}
