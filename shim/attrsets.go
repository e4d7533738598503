package shim

import (
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// attrSetCache holds the metric options of two-attribute measurements, by
// their keys and values: building an attribute set sorts and copies, and
// the hot path would do it for every request. The values it sees are
// bounded (action names, legacy codes, call names, outcomes), but the
// cache stops growing at maxAttrSets all the same, so that a value it
// did not foresee cannot grow it without end.
type attrSetCache struct {
	m    sync.Map // attrSetKey -> metric.MeasurementOption
	n    sync.Mutex
	size int
}

type attrSetKey struct {
	k1, k2 attribute.Key
	v1, v2 string
}

const maxAttrSets = 4096

// get is the option that records a measurement with k1=v1 and k2=v2; an
// empty k2 leaves the second attribute out.
func (c *attrSetCache) get(k1 attribute.Key, v1 string, k2 attribute.Key, v2 string) metric.MeasurementOption {
	key := attrSetKey{k1, k2, v1, v2}
	if o, ok := c.m.Load(key); ok {
		return o.(metric.MeasurementOption)
	}
	var set attribute.Set
	if k2 == "" {
		set = attribute.NewSet(k1.String(v1))
	} else {
		set = attribute.NewSet(k1.String(v1), k2.String(v2))
	}
	o := metric.WithAttributeSet(set)
	c.n.Lock()
	if c.size < maxAttrSets {
		c.size++
		c.m.Store(key, o)
	}
	c.n.Unlock()
	return o
}
