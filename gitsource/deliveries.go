package gitsource

import (
	"container/list"
	"net/http"
	"sync"
	"time"
)

// The delivery id headers, in the order they are looked for: each Git host names every
// delivery, and sends the same id again when the delivery is replayed or redelivered.
var deliveryHeaders = []string{"X-GitHub-Delivery", "X-Gitlab-Event-UUID", DeliveryHeader}

// DeliveryHeader is the delivery id header of a generic (hmac) sender: a unique value per
// delivery lets the webhook handler ignore a replay of it.
const DeliveryHeader = "X-Delivery-Id"

// The bounds of the remembered delivery ids: MaxDeliveries ids per handler, each for
// DeliveryTTL.
const (
	MaxDeliveries = 4096
	DeliveryTTL   = time.Hour
)

// deliveryID returns the delivery id of a webhook request, "" when it carries none.
func deliveryID(hdr http.Header) string {
	for _, h := range deliveryHeaders {
		if id := hdr.Get(h); id != "" {
			return id
		}
	}
	return ""
}

// deliveries remembers recently accepted delivery ids: at most max of them, each for ttl,
// the oldest forgotten first. The zero value is not usable: see newDeliveries.
type deliveries struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	now   func() time.Time
	order *list.List // of delivery, oldest first
	byKey map[string]*list.Element
}

type delivery struct {
	key string
	at  time.Time
}

func newDeliveries(max int, ttl time.Duration, now func() time.Time) *deliveries {
	return &deliveries{max: max, ttl: ttl, now: now, order: list.New(), byKey: map[string]*list.Element{}}
}

// seen records key and reports whether it was already recorded within ttl.
func (d *deliveries) seen(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	for e := d.order.Front(); e != nil; e = d.order.Front() {
		if now.Sub(e.Value.(delivery).at) < d.ttl {
			break // the rest are younger
		}
		d.order.Remove(e)
		delete(d.byKey, e.Value.(delivery).key)
	}
	if _, ok := d.byKey[key]; ok {
		return true
	}
	d.byKey[key] = d.order.PushBack(delivery{key: key, at: now})
	for d.order.Len() > d.max {
		e := d.order.Front()
		d.order.Remove(e)
		delete(d.byKey, e.Value.(delivery).key)
	}
	return false
}
