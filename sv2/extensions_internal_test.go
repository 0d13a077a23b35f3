package sv2

import (
	"reflect"
	"testing"

	"github.com/adit-pool/adit/sv2/codec"
)

// TestNegotiateExtensions checks the SRI pool's rule
// (extensions_message_handler.rs): Success with the supported subset when
// it is not empty, otherwise Error listing the unsupported requests.
func TestNegotiateExtensions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		requested []uint16
		supported []uint16
		want      codec.Message
	}{
		{"none supported", []uint16{2, 3}, nil,
			&codec.RequestExtensionsError{RequestID: 7, UnsupportedExtensions: []uint16{2, 3}}},
		{"empty request", nil, []uint16{2},
			&codec.RequestExtensionsError{RequestID: 7}},
		{"some supported", []uint16{2, 3, 4}, []uint16{4, 2},
			&codec.RequestExtensionsSuccess{RequestID: 7, SupportedExtensions: []uint16{2, 4}}},
	} {
		got := negotiateExtensions(&codec.RequestExtensions{RequestID: 7, RequestedExtensions: tc.requested}, tc.supported)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, got, tc.want)
		}
	}
}
