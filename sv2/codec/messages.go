// Message structs and the type table, transcribed field by field from SV2-WIRE.md §3.

package codec

// Message type numbers (msg_type), per SV2-WIRE.md §3.
const (
	TypeSetupConnection                   MsgType = 0x00 // SetupConnection
	TypeSetupConnectionSuccess            MsgType = 0x01 // SetupConnection.Success
	TypeSetupConnectionError              MsgType = 0x02 // SetupConnection.Error
	TypeChannelEndpointChanged            MsgType = 0x03 // ChannelEndpointChanged
	TypeReconnect                         MsgType = 0x04 // Reconnect
	TypeOpenStandardMiningChannel         MsgType = 0x10 // OpenStandardMiningChannel
	TypeOpenStandardMiningChannelSuccess  MsgType = 0x11 // OpenStandardMiningChannel.Success
	TypeOpenMiningChannelError            MsgType = 0x12 // OpenMiningChannel.Error
	TypeOpenExtendedMiningChannel         MsgType = 0x13 // OpenExtendedMiningChannel
	TypeOpenExtendedMiningChannelSuccess  MsgType = 0x14 // OpenExtendedMiningChannel.Success
	TypeNewMiningJob                      MsgType = 0x15 // NewMiningJob
	TypeUpdateChannel                     MsgType = 0x16 // UpdateChannel
	TypeUpdateChannelError                MsgType = 0x17 // UpdateChannel.Error
	TypeCloseChannel                      MsgType = 0x18 // CloseChannel
	TypeSetExtranoncePrefix               MsgType = 0x19 // SetExtranoncePrefix
	TypeSubmitSharesStandard              MsgType = 0x1a // SubmitSharesStandard
	TypeSubmitSharesExtended              MsgType = 0x1b // SubmitSharesExtended
	TypeSubmitSharesSuccess               MsgType = 0x1c // SubmitShares.Success
	TypeSubmitSharesError                 MsgType = 0x1d // SubmitShares.Error
	TypeNewExtendedMiningJob              MsgType = 0x1f // NewExtendedMiningJob
	TypeSetNewPrevHash                    MsgType = 0x20 // SetNewPrevHash
	TypeSetTarget                         MsgType = 0x21 // SetTarget
	TypeSetCustomMiningJob                MsgType = 0x22 // SetCustomMiningJob
	TypeSetCustomMiningJobSuccess         MsgType = 0x23 // SetCustomMiningJob.Success
	TypeSetCustomMiningJobError           MsgType = 0x24 // SetCustomMiningJob.Error
	TypeSetGroupChannel                   MsgType = 0x25 // SetGroupChannel
	TypeAllocateMiningJobToken            MsgType = 0x50 // AllocateMiningJobToken
	TypeAllocateMiningJobTokenSuccess     MsgType = 0x51 // AllocateMiningJobToken.Success
	TypeProvideMissingTransactions        MsgType = 0x55 // ProvideMissingTransactions
	TypeProvideMissingTransactionsSuccess MsgType = 0x56 // ProvideMissingTransactions.Success
	TypeDeclareMiningJob                  MsgType = 0x57 // DeclareMiningJob
	TypeDeclareMiningJobSuccess           MsgType = 0x58 // DeclareMiningJob.Success
	TypeDeclareMiningJobError             MsgType = 0x59 // DeclareMiningJob.Error
	TypePushSolution                      MsgType = 0x60 // PushSolution
	TypeCoinbaseOutputConstraints         MsgType = 0x70 // CoinbaseOutputConstraints
	TypeNewTemplate                       MsgType = 0x71 // NewTemplate
	TypeTemplateSetNewPrevHash            MsgType = 0x72 // SetNewPrevHash
	TypeRequestTransactionData            MsgType = 0x73 // RequestTransactionData
	TypeRequestTransactionDataSuccess     MsgType = 0x74 // RequestTransactionData.Success
	TypeRequestTransactionDataError       MsgType = 0x75 // RequestTransactionData.Error
	TypeSubmitSolution                    MsgType = 0x76 // SubmitSolution
)

// lookupCore returns the table entry and a constructor for core-protocol
// msg_type t (extension 0).
func lookupCore(t MsgType) (MsgInfo, func() Message, bool) {
	switch t {
	case TypeSetupConnection:
		return MsgInfo{Type: t, Name: "SetupConnection", Protocol: ProtocolCommon, ChannelMsg: false}, func() Message { return new(SetupConnection) }, true
	case TypeSetupConnectionSuccess:
		return MsgInfo{Type: t, Name: "SetupConnection.Success", Protocol: ProtocolCommon, ChannelMsg: false}, func() Message { return new(SetupConnectionSuccess) }, true
	case TypeSetupConnectionError:
		return MsgInfo{Type: t, Name: "SetupConnection.Error", Protocol: ProtocolCommon, ChannelMsg: false}, func() Message { return new(SetupConnectionError) }, true
	case TypeChannelEndpointChanged:
		return MsgInfo{Type: t, Name: "ChannelEndpointChanged", Protocol: ProtocolCommon, ChannelMsg: true}, func() Message { return new(ChannelEndpointChanged) }, true
	case TypeReconnect:
		return MsgInfo{Type: t, Name: "Reconnect", Protocol: ProtocolCommon, ChannelMsg: false}, func() Message { return new(Reconnect) }, true
	case TypeOpenStandardMiningChannel:
		return MsgInfo{Type: t, Name: "OpenStandardMiningChannel", Protocol: ProtocolMining, ChannelMsg: false}, func() Message { return new(OpenStandardMiningChannel) }, true
	case TypeOpenStandardMiningChannelSuccess:
		return MsgInfo{Type: t, Name: "OpenStandardMiningChannel.Success", Protocol: ProtocolMining, ChannelMsg: false}, func() Message { return new(OpenStandardMiningChannelSuccess) }, true
	case TypeOpenMiningChannelError:
		return MsgInfo{Type: t, Name: "OpenMiningChannel.Error", Protocol: ProtocolMining, ChannelMsg: false}, func() Message { return new(OpenMiningChannelError) }, true
	case TypeOpenExtendedMiningChannel:
		return MsgInfo{Type: t, Name: "OpenExtendedMiningChannel", Protocol: ProtocolMining, ChannelMsg: false}, func() Message { return new(OpenExtendedMiningChannel) }, true
	case TypeOpenExtendedMiningChannelSuccess:
		return MsgInfo{Type: t, Name: "OpenExtendedMiningChannel.Success", Protocol: ProtocolMining, ChannelMsg: false}, func() Message { return new(OpenExtendedMiningChannelSuccess) }, true
	case TypeNewMiningJob:
		return MsgInfo{Type: t, Name: "NewMiningJob", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(NewMiningJob) }, true
	case TypeUpdateChannel:
		return MsgInfo{Type: t, Name: "UpdateChannel", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(UpdateChannel) }, true
	case TypeUpdateChannelError:
		return MsgInfo{Type: t, Name: "UpdateChannel.Error", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(UpdateChannelError) }, true
	case TypeCloseChannel:
		return MsgInfo{Type: t, Name: "CloseChannel", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(CloseChannel) }, true
	case TypeSetExtranoncePrefix:
		return MsgInfo{Type: t, Name: "SetExtranoncePrefix", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(SetExtranoncePrefix) }, true
	case TypeSubmitSharesStandard:
		return MsgInfo{Type: t, Name: "SubmitSharesStandard", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(SubmitSharesStandard) }, true
	case TypeSubmitSharesExtended:
		return MsgInfo{Type: t, Name: "SubmitSharesExtended", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(SubmitSharesExtended) }, true
	case TypeSubmitSharesSuccess:
		return MsgInfo{Type: t, Name: "SubmitShares.Success", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(SubmitSharesSuccess) }, true
	case TypeSubmitSharesError:
		return MsgInfo{Type: t, Name: "SubmitShares.Error", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(SubmitSharesError) }, true
	case TypeNewExtendedMiningJob:
		return MsgInfo{Type: t, Name: "NewExtendedMiningJob", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(NewExtendedMiningJob) }, true
	case TypeSetNewPrevHash:
		return MsgInfo{Type: t, Name: "SetNewPrevHash", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(SetNewPrevHash) }, true
	case TypeSetTarget:
		return MsgInfo{Type: t, Name: "SetTarget", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(SetTarget) }, true
	case TypeSetCustomMiningJob:
		return MsgInfo{Type: t, Name: "SetCustomMiningJob", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(SetCustomMiningJob) }, true
	case TypeSetCustomMiningJobSuccess:
		return MsgInfo{Type: t, Name: "SetCustomMiningJob.Success", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(SetCustomMiningJobSuccess) }, true
	case TypeSetCustomMiningJobError:
		return MsgInfo{Type: t, Name: "SetCustomMiningJob.Error", Protocol: ProtocolMining, ChannelMsg: true}, func() Message { return new(SetCustomMiningJobError) }, true
	case TypeSetGroupChannel:
		return MsgInfo{Type: t, Name: "SetGroupChannel", Protocol: ProtocolMining, ChannelMsg: false}, func() Message { return new(SetGroupChannel) }, true
	case TypeAllocateMiningJobToken:
		return MsgInfo{Type: t, Name: "AllocateMiningJobToken", Protocol: ProtocolJobDeclaration, ChannelMsg: false}, func() Message { return new(AllocateMiningJobToken) }, true
	case TypeAllocateMiningJobTokenSuccess:
		return MsgInfo{Type: t, Name: "AllocateMiningJobToken.Success", Protocol: ProtocolJobDeclaration, ChannelMsg: false}, func() Message { return new(AllocateMiningJobTokenSuccess) }, true
	case TypeProvideMissingTransactions:
		return MsgInfo{Type: t, Name: "ProvideMissingTransactions", Protocol: ProtocolJobDeclaration, ChannelMsg: false}, func() Message { return new(ProvideMissingTransactions) }, true
	case TypeProvideMissingTransactionsSuccess:
		return MsgInfo{Type: t, Name: "ProvideMissingTransactions.Success", Protocol: ProtocolJobDeclaration, ChannelMsg: false}, func() Message { return new(ProvideMissingTransactionsSuccess) }, true
	case TypeDeclareMiningJob:
		return MsgInfo{Type: t, Name: "DeclareMiningJob", Protocol: ProtocolJobDeclaration, ChannelMsg: false}, func() Message { return new(DeclareMiningJob) }, true
	case TypeDeclareMiningJobSuccess:
		return MsgInfo{Type: t, Name: "DeclareMiningJob.Success", Protocol: ProtocolJobDeclaration, ChannelMsg: false}, func() Message { return new(DeclareMiningJobSuccess) }, true
	case TypeDeclareMiningJobError:
		return MsgInfo{Type: t, Name: "DeclareMiningJob.Error", Protocol: ProtocolJobDeclaration, ChannelMsg: false}, func() Message { return new(DeclareMiningJobError) }, true
	case TypePushSolution:
		return MsgInfo{Type: t, Name: "PushSolution", Protocol: ProtocolJobDeclaration, ChannelMsg: false}, func() Message { return new(PushSolution) }, true
	case TypeCoinbaseOutputConstraints:
		return MsgInfo{Type: t, Name: "CoinbaseOutputConstraints", Protocol: ProtocolTemplateDistribution, ChannelMsg: false}, func() Message { return new(CoinbaseOutputConstraints) }, true
	case TypeNewTemplate:
		return MsgInfo{Type: t, Name: "NewTemplate", Protocol: ProtocolTemplateDistribution, ChannelMsg: false}, func() Message { return new(NewTemplate) }, true
	case TypeTemplateSetNewPrevHash:
		return MsgInfo{Type: t, Name: "SetNewPrevHash", Protocol: ProtocolTemplateDistribution, ChannelMsg: false}, func() Message { return new(TemplateSetNewPrevHash) }, true
	case TypeRequestTransactionData:
		return MsgInfo{Type: t, Name: "RequestTransactionData", Protocol: ProtocolTemplateDistribution, ChannelMsg: false}, func() Message { return new(RequestTransactionData) }, true
	case TypeRequestTransactionDataSuccess:
		return MsgInfo{Type: t, Name: "RequestTransactionData.Success", Protocol: ProtocolTemplateDistribution, ChannelMsg: false}, func() Message { return new(RequestTransactionDataSuccess) }, true
	case TypeRequestTransactionDataError:
		return MsgInfo{Type: t, Name: "RequestTransactionData.Error", Protocol: ProtocolTemplateDistribution, ChannelMsg: false}, func() Message { return new(RequestTransactionDataError) }, true
	case TypeSubmitSolution:
		return MsgInfo{Type: t, Name: "SubmitSolution", Protocol: ProtocolTemplateDistribution, ChannelMsg: false}, func() Message { return new(SubmitSolution) }, true
	}
	return MsgInfo{}, nil, false
}

// coreKinds lists every core-protocol message kind in ascending msg_type
// order.
func coreKinds() []Kind {
	types := []MsgType{
		TypeSetupConnection,
		TypeSetupConnectionSuccess,
		TypeSetupConnectionError,
		TypeChannelEndpointChanged,
		TypeReconnect,
		TypeOpenStandardMiningChannel,
		TypeOpenStandardMiningChannelSuccess,
		TypeOpenMiningChannelError,
		TypeOpenExtendedMiningChannel,
		TypeOpenExtendedMiningChannelSuccess,
		TypeNewMiningJob,
		TypeUpdateChannel,
		TypeUpdateChannelError,
		TypeCloseChannel,
		TypeSetExtranoncePrefix,
		TypeSubmitSharesStandard,
		TypeSubmitSharesExtended,
		TypeSubmitSharesSuccess,
		TypeSubmitSharesError,
		TypeNewExtendedMiningJob,
		TypeSetNewPrevHash,
		TypeSetTarget,
		TypeSetCustomMiningJob,
		TypeSetCustomMiningJobSuccess,
		TypeSetCustomMiningJobError,
		TypeSetGroupChannel,
		TypeAllocateMiningJobToken,
		TypeAllocateMiningJobTokenSuccess,
		TypeProvideMissingTransactions,
		TypeProvideMissingTransactionsSuccess,
		TypeDeclareMiningJob,
		TypeDeclareMiningJobSuccess,
		TypeDeclareMiningJobError,
		TypePushSolution,
		TypeCoinbaseOutputConstraints,
		TypeNewTemplate,
		TypeTemplateSetNewPrevHash,
		TypeRequestTransactionData,
		TypeRequestTransactionDataSuccess,
		TypeRequestTransactionDataError,
		TypeSubmitSolution,
	}
	kinds := make([]Kind, len(types))
	for i, t := range types {
		kinds[i] = Core(t)
	}
	return kinds
}

// SetupConnection is SetupConnection (msg_type 0x00, Common): it opens a connection and negotiates the subprotocol, version and flags (client → server).
type SetupConnection struct {
	Protocol        uint8  // protocol U8
	MinVersion      uint16 // min_version U16
	MaxVersion      uint16 // max_version U16
	Flags           uint32 // flags U32
	EndpointHost    string // endpoint_host STR0_255
	EndpointPort    uint16 // endpoint_port U16
	Vendor          string // vendor STR0_255
	HardwareVersion string // hardware_version STR0_255
	Firmware        string // firmware STR0_255
	DeviceID        string // device_id STR0_255
}

// MsgType implements Message.
func (*SetupConnection) MsgType() MsgType { return TypeSetupConnection }

// MarshalTo implements Message.
func (m *SetupConnection) MarshalTo(e *Encoder) {
	e.U8(m.Protocol)
	e.U16(m.MinVersion)
	e.U16(m.MaxVersion)
	e.U32(m.Flags)
	e.Str0255("endpoint_host", m.EndpointHost)
	e.U16(m.EndpointPort)
	e.Str0255("vendor", m.Vendor)
	e.Str0255("hardware_version", m.HardwareVersion)
	e.Str0255("firmware", m.Firmware)
	e.Str0255("device_id", m.DeviceID)
}

// UnmarshalFrom implements Message.
func (m *SetupConnection) UnmarshalFrom(d *Decoder) {
	m.Protocol = d.U8("protocol")
	m.MinVersion = d.U16("min_version")
	m.MaxVersion = d.U16("max_version")
	m.Flags = d.U32("flags")
	m.EndpointHost = d.Str0255("endpoint_host")
	m.EndpointPort = d.U16("endpoint_port")
	m.Vendor = d.Str0255("vendor")
	m.HardwareVersion = d.Str0255("hardware_version")
	m.Firmware = d.Str0255("firmware")
	m.DeviceID = d.Str0255("device_id")
}

// SetupConnectionSuccess is SetupConnection.Success (msg_type 0x01, Common): it accepts a SetupConnection.
type SetupConnectionSuccess struct {
	UsedVersion uint16 // used_version U16
	Flags       uint32 // flags U32
}

// MsgType implements Message.
func (*SetupConnectionSuccess) MsgType() MsgType { return TypeSetupConnectionSuccess }

// MarshalTo implements Message.
func (m *SetupConnectionSuccess) MarshalTo(e *Encoder) {
	e.U16(m.UsedVersion)
	e.U32(m.Flags)
}

// UnmarshalFrom implements Message.
func (m *SetupConnectionSuccess) UnmarshalFrom(d *Decoder) {
	m.UsedVersion = d.U16("used_version")
	m.Flags = d.U32("flags")
}

// SetupConnectionError is SetupConnection.Error (msg_type 0x02, Common): it rejects a SetupConnection.
type SetupConnectionError struct {
	Flags     uint32 // flags U32
	ErrorCode string // error_code STR0_255
}

// MsgType implements Message.
func (*SetupConnectionError) MsgType() MsgType { return TypeSetupConnectionError }

// MarshalTo implements Message.
func (m *SetupConnectionError) MarshalTo(e *Encoder) {
	e.U32(m.Flags)
	e.Str0255("error_code", m.ErrorCode)
}

// UnmarshalFrom implements Message.
func (m *SetupConnectionError) UnmarshalFrom(d *Decoder) {
	m.Flags = d.U32("flags")
	m.ErrorCode = d.Str0255("error_code")
}

// ChannelEndpointChanged is ChannelEndpointChanged (msg_type 0x03, Common): it tells the client that the channel's endpoint changed. It is a channel message (channel bit set).
type ChannelEndpointChanged struct {
	ChannelID uint32 // channel_id U32
}

// MsgType implements Message.
func (*ChannelEndpointChanged) MsgType() MsgType { return TypeChannelEndpointChanged }

// MarshalTo implements Message.
func (m *ChannelEndpointChanged) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
}

// UnmarshalFrom implements Message.
func (m *ChannelEndpointChanged) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
}

// Reconnect is Reconnect (msg_type 0x04, Common): it asks the client to reconnect (to new_host:new_port, or the same server when empty/zero).
type Reconnect struct {
	NewHost string // new_host STR0_255
	NewPort uint16 // new_port U16
}

// MsgType implements Message.
func (*Reconnect) MsgType() MsgType { return TypeReconnect }

// MarshalTo implements Message.
func (m *Reconnect) MarshalTo(e *Encoder) {
	e.Str0255("new_host", m.NewHost)
	e.U16(m.NewPort)
}

// UnmarshalFrom implements Message.
func (m *Reconnect) UnmarshalFrom(d *Decoder) {
	m.NewHost = d.Str0255("new_host")
	m.NewPort = d.U16("new_port")
}

// OpenStandardMiningChannel is OpenStandardMiningChannel (msg_type 0x10, Mining): it requests a standard (header-only) channel.
type OpenStandardMiningChannel struct {
	RequestID       uint32  // request_id U32
	UserIdentity    string  // user_identity STR0_255
	NominalHashRate float32 // nominal_hash_rate F32
	MaxTarget       U256    // max_target U256
}

// MsgType implements Message.
func (*OpenStandardMiningChannel) MsgType() MsgType { return TypeOpenStandardMiningChannel }

// MarshalTo implements Message.
func (m *OpenStandardMiningChannel) MarshalTo(e *Encoder) {
	e.U32(m.RequestID)
	e.Str0255("user_identity", m.UserIdentity)
	e.F32(m.NominalHashRate)
	e.U256(m.MaxTarget)
}

// UnmarshalFrom implements Message.
func (m *OpenStandardMiningChannel) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U32("request_id")
	m.UserIdentity = d.Str0255("user_identity")
	m.NominalHashRate = d.F32("nominal_hash_rate")
	m.MaxTarget = d.U256("max_target")
}

// OpenStandardMiningChannelSuccess is OpenStandardMiningChannel.Success (msg_type 0x11, Mining): it opens a standard channel.
type OpenStandardMiningChannelSuccess struct {
	RequestID        uint32 // request_id U32
	ChannelID        uint32 // channel_id U32
	Target           U256   // target U256
	ExtranoncePrefix []byte // extranonce_prefix B0_32
	GroupChannelID   uint32 // group_channel_id U32
}

// MsgType implements Message.
func (*OpenStandardMiningChannelSuccess) MsgType() MsgType {
	return TypeOpenStandardMiningChannelSuccess
}

// MarshalTo implements Message.
func (m *OpenStandardMiningChannelSuccess) MarshalTo(e *Encoder) {
	e.U32(m.RequestID)
	e.U32(m.ChannelID)
	e.U256(m.Target)
	e.B032("extranonce_prefix", m.ExtranoncePrefix)
	e.U32(m.GroupChannelID)
}

// UnmarshalFrom implements Message.
func (m *OpenStandardMiningChannelSuccess) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U32("request_id")
	m.ChannelID = d.U32("channel_id")
	m.Target = d.U256("target")
	m.ExtranoncePrefix = d.B032("extranonce_prefix")
	m.GroupChannelID = d.U32("group_channel_id")
}

// OpenMiningChannelError is OpenMiningChannel.Error (msg_type 0x12, Mining): it rejects an OpenStandardMiningChannel or OpenExtendedMiningChannel.
type OpenMiningChannelError struct {
	RequestID uint32 // request_id U32
	ErrorCode string // error_code STR0_255
}

// MsgType implements Message.
func (*OpenMiningChannelError) MsgType() MsgType { return TypeOpenMiningChannelError }

// MarshalTo implements Message.
func (m *OpenMiningChannelError) MarshalTo(e *Encoder) {
	e.U32(m.RequestID)
	e.Str0255("error_code", m.ErrorCode)
}

// UnmarshalFrom implements Message.
func (m *OpenMiningChannelError) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U32("request_id")
	m.ErrorCode = d.Str0255("error_code")
}

// OpenExtendedMiningChannel is OpenExtendedMiningChannel (msg_type 0x13, Mining): it requests an extended channel.
type OpenExtendedMiningChannel struct {
	RequestID         uint32  // request_id U32
	UserIdentity      string  // user_identity STR0_255
	NominalHashRate   float32 // nominal_hash_rate F32
	MaxTarget         U256    // max_target U256
	MinExtranonceSize uint16  // min_extranonce_size U16
}

// MsgType implements Message.
func (*OpenExtendedMiningChannel) MsgType() MsgType { return TypeOpenExtendedMiningChannel }

// MarshalTo implements Message.
func (m *OpenExtendedMiningChannel) MarshalTo(e *Encoder) {
	e.U32(m.RequestID)
	e.Str0255("user_identity", m.UserIdentity)
	e.F32(m.NominalHashRate)
	e.U256(m.MaxTarget)
	e.U16(m.MinExtranonceSize)
}

// UnmarshalFrom implements Message.
func (m *OpenExtendedMiningChannel) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U32("request_id")
	m.UserIdentity = d.Str0255("user_identity")
	m.NominalHashRate = d.F32("nominal_hash_rate")
	m.MaxTarget = d.U256("max_target")
	m.MinExtranonceSize = d.U16("min_extranonce_size")
}

// OpenExtendedMiningChannelSuccess is OpenExtendedMiningChannel.Success (msg_type 0x14, Mining): it opens an extended channel (group_channel_id since SRI v1.7.0).
type OpenExtendedMiningChannelSuccess struct {
	RequestID        uint32 // request_id U32
	ChannelID        uint32 // channel_id U32
	Target           U256   // target U256
	ExtranonceSize   uint16 // extranonce_size U16
	ExtranoncePrefix []byte // extranonce_prefix B0_32
	GroupChannelID   uint32 // group_channel_id U32
}

// MsgType implements Message.
func (*OpenExtendedMiningChannelSuccess) MsgType() MsgType {
	return TypeOpenExtendedMiningChannelSuccess
}

// MarshalTo implements Message.
func (m *OpenExtendedMiningChannelSuccess) MarshalTo(e *Encoder) {
	e.U32(m.RequestID)
	e.U32(m.ChannelID)
	e.U256(m.Target)
	e.U16(m.ExtranonceSize)
	e.B032("extranonce_prefix", m.ExtranoncePrefix)
	e.U32(m.GroupChannelID)
}

// UnmarshalFrom implements Message.
func (m *OpenExtendedMiningChannelSuccess) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U32("request_id")
	m.ChannelID = d.U32("channel_id")
	m.Target = d.U256("target")
	m.ExtranonceSize = d.U16("extranonce_size")
	m.ExtranoncePrefix = d.B032("extranonce_prefix")
	m.GroupChannelID = d.U32("group_channel_id")
}

// NewMiningJob is NewMiningJob (msg_type 0x15, Mining): it sends a job to a standard channel; MinNTime nil means a future job. It is a channel message (channel bit set).
type NewMiningJob struct {
	ChannelID  uint32  // channel_id U32
	JobID      uint32  // job_id U32
	MinNTime   *uint32 // min_ntime OPTION[U32]
	Version    uint32  // version U32
	MerkleRoot U256    // merkle_root U256
}

// MsgType implements Message.
func (*NewMiningJob) MsgType() MsgType { return TypeNewMiningJob }

// MarshalTo implements Message.
func (m *NewMiningJob) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.U32(m.JobID)
	e.OptionU32(m.MinNTime)
	e.U32(m.Version)
	e.U256(m.MerkleRoot)
}

// UnmarshalFrom implements Message.
func (m *NewMiningJob) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.JobID = d.U32("job_id")
	m.MinNTime = d.OptionU32("min_ntime")
	m.Version = d.U32("version")
	m.MerkleRoot = d.U256("merkle_root")
}

// UpdateChannel is UpdateChannel (msg_type 0x16, Mining): it reports a channel's new nominal hash rate and maximum target. It is a channel message (channel bit set).
type UpdateChannel struct {
	ChannelID       uint32  // channel_id U32
	NominalHashRate float32 // nominal_hash_rate F32
	MaximumTarget   U256    // maximum_target U256
}

// MsgType implements Message.
func (*UpdateChannel) MsgType() MsgType { return TypeUpdateChannel }

// MarshalTo implements Message.
func (m *UpdateChannel) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.F32(m.NominalHashRate)
	e.U256(m.MaximumTarget)
}

// UnmarshalFrom implements Message.
func (m *UpdateChannel) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.NominalHashRate = d.F32("nominal_hash_rate")
	m.MaximumTarget = d.U256("maximum_target")
}

// UpdateChannelError is UpdateChannel.Error (msg_type 0x17, Mining): it rejects an UpdateChannel. It is a channel message (channel bit set).
type UpdateChannelError struct {
	ChannelID uint32 // channel_id U32
	ErrorCode string // error_code STR0_255
}

// MsgType implements Message.
func (*UpdateChannelError) MsgType() MsgType { return TypeUpdateChannelError }

// MarshalTo implements Message.
func (m *UpdateChannelError) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.Str0255("error_code", m.ErrorCode)
}

// UnmarshalFrom implements Message.
func (m *UpdateChannelError) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.ErrorCode = d.Str0255("error_code")
}

// CloseChannel is CloseChannel (msg_type 0x18, Mining): it closes a channel. It is a channel message (channel bit set).
type CloseChannel struct {
	ChannelID  uint32 // channel_id U32
	ReasonCode string // reason_code STR0_255
}

// MsgType implements Message.
func (*CloseChannel) MsgType() MsgType { return TypeCloseChannel }

// MarshalTo implements Message.
func (m *CloseChannel) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.Str0255("reason_code", m.ReasonCode)
}

// UnmarshalFrom implements Message.
func (m *CloseChannel) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.ReasonCode = d.Str0255("reason_code")
}

// SetExtranoncePrefix is SetExtranoncePrefix (msg_type 0x19, Mining): it changes a channel's extranonce prefix for future jobs. It is a channel message (channel bit set).
type SetExtranoncePrefix struct {
	ChannelID        uint32 // channel_id U32
	ExtranoncePrefix []byte // extranonce_prefix B0_32
}

// MsgType implements Message.
func (*SetExtranoncePrefix) MsgType() MsgType { return TypeSetExtranoncePrefix }

// MarshalTo implements Message.
func (m *SetExtranoncePrefix) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.B032("extranonce_prefix", m.ExtranoncePrefix)
}

// UnmarshalFrom implements Message.
func (m *SetExtranoncePrefix) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.ExtranoncePrefix = d.B032("extranonce_prefix")
}

// SubmitSharesStandard is SubmitSharesStandard (msg_type 0x1a, Mining): it submits a share on a standard channel. It is a channel message (channel bit set).
type SubmitSharesStandard struct {
	ChannelID      uint32 // channel_id U32
	SequenceNumber uint32 // sequence_number U32
	JobID          uint32 // job_id U32
	Nonce          uint32 // nonce U32
	NTime          uint32 // ntime U32
	Version        uint32 // version U32
}

// MsgType implements Message.
func (*SubmitSharesStandard) MsgType() MsgType { return TypeSubmitSharesStandard }

// MarshalTo implements Message.
func (m *SubmitSharesStandard) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.U32(m.SequenceNumber)
	e.U32(m.JobID)
	e.U32(m.Nonce)
	e.U32(m.NTime)
	e.U32(m.Version)
}

// UnmarshalFrom implements Message.
func (m *SubmitSharesStandard) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.SequenceNumber = d.U32("sequence_number")
	m.JobID = d.U32("job_id")
	m.Nonce = d.U32("nonce")
	m.NTime = d.U32("ntime")
	m.Version = d.U32("version")
}

// SubmitSharesExtended is SubmitSharesExtended (msg_type 0x1b, Mining): it submits a share on an extended channel; optional extension TLVs follow the fixed fields. It is a channel message (channel bit set).
type SubmitSharesExtended struct {
	ChannelID      uint32 // channel_id U32
	SequenceNumber uint32 // sequence_number U32
	JobID          uint32 // job_id U32
	Nonce          uint32 // nonce U32
	NTime          uint32 // ntime U32
	Version        uint32 // version U32
	Extranonce     []byte // extranonce B0_32
	TLVs           []TLV  // tlvs trailing TLVs
}

// MsgType implements Message.
func (*SubmitSharesExtended) MsgType() MsgType { return TypeSubmitSharesExtended }

// MarshalTo implements Message.
func (m *SubmitSharesExtended) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.U32(m.SequenceNumber)
	e.U32(m.JobID)
	e.U32(m.Nonce)
	e.U32(m.NTime)
	e.U32(m.Version)
	e.B032("extranonce", m.Extranonce)
	e.TLVs("tlvs", m.TLVs)
}

// UnmarshalFrom implements Message.
func (m *SubmitSharesExtended) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.SequenceNumber = d.U32("sequence_number")
	m.JobID = d.U32("job_id")
	m.Nonce = d.U32("nonce")
	m.NTime = d.U32("ntime")
	m.Version = d.U32("version")
	m.Extranonce = d.B032("extranonce")
	m.TLVs = d.TLVs("tlvs")
}

// SubmitSharesSuccess is SubmitShares.Success (msg_type 0x1c, Mining): it acknowledges shares up to last_sequence_number. It is a channel message (channel bit set).
type SubmitSharesSuccess struct {
	ChannelID               uint32 // channel_id U32
	LastSequenceNumber      uint32 // last_sequence_number U32
	NewSubmitsAcceptedCount uint32 // new_submits_accepted_count U32
	NewSharesSum            uint64 // new_shares_sum U64
}

// MsgType implements Message.
func (*SubmitSharesSuccess) MsgType() MsgType { return TypeSubmitSharesSuccess }

// MarshalTo implements Message.
func (m *SubmitSharesSuccess) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.U32(m.LastSequenceNumber)
	e.U32(m.NewSubmitsAcceptedCount)
	e.U64(m.NewSharesSum)
}

// UnmarshalFrom implements Message.
func (m *SubmitSharesSuccess) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.LastSequenceNumber = d.U32("last_sequence_number")
	m.NewSubmitsAcceptedCount = d.U32("new_submits_accepted_count")
	m.NewSharesSum = d.U64("new_shares_sum")
}

// SubmitSharesError is SubmitShares.Error (msg_type 0x1d, Mining): it rejects one share. It is a channel message (channel bit set).
type SubmitSharesError struct {
	ChannelID      uint32 // channel_id U32
	SequenceNumber uint32 // sequence_number U32
	ErrorCode      string // error_code STR0_255
}

// MsgType implements Message.
func (*SubmitSharesError) MsgType() MsgType { return TypeSubmitSharesError }

// MarshalTo implements Message.
func (m *SubmitSharesError) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.U32(m.SequenceNumber)
	e.Str0255("error_code", m.ErrorCode)
}

// UnmarshalFrom implements Message.
func (m *SubmitSharesError) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.SequenceNumber = d.U32("sequence_number")
	m.ErrorCode = d.Str0255("error_code")
}

// NewExtendedMiningJob is NewExtendedMiningJob (msg_type 0x1f, Mining): it sends a job to an extended or group channel; MinNTime nil means a future job. It is a channel message (channel bit set).
type NewExtendedMiningJob struct {
	ChannelID             uint32  // channel_id U32
	JobID                 uint32  // job_id U32
	MinNTime              *uint32 // min_ntime OPTION[U32]
	Version               uint32  // version U32
	VersionRollingAllowed bool    // version_rolling_allowed BOOL
	MerklePath            []U256  // merkle_path SEQ0_255[U256]
	CoinbaseTxPrefix      []byte  // coinbase_tx_prefix B0_64K
	CoinbaseTxSuffix      []byte  // coinbase_tx_suffix B0_64K
}

// MsgType implements Message.
func (*NewExtendedMiningJob) MsgType() MsgType { return TypeNewExtendedMiningJob }

// MarshalTo implements Message.
func (m *NewExtendedMiningJob) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.U32(m.JobID)
	e.OptionU32(m.MinNTime)
	e.U32(m.Version)
	e.Bool(m.VersionRollingAllowed)
	e.Seq0255U256("merkle_path", m.MerklePath)
	e.B064K("coinbase_tx_prefix", m.CoinbaseTxPrefix)
	e.B064K("coinbase_tx_suffix", m.CoinbaseTxSuffix)
}

// UnmarshalFrom implements Message.
func (m *NewExtendedMiningJob) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.JobID = d.U32("job_id")
	m.MinNTime = d.OptionU32("min_ntime")
	m.Version = d.U32("version")
	m.VersionRollingAllowed = d.Bool("version_rolling_allowed")
	m.MerklePath = d.Seq0255U256("merkle_path")
	m.CoinbaseTxPrefix = d.B064K("coinbase_tx_prefix")
	m.CoinbaseTxSuffix = d.B064K("coinbase_tx_suffix")
}

// SetNewPrevHash is SetNewPrevHash (msg_type 0x20, Mining): it activates job_id on a new chain tip. It is a channel message (channel bit set).
type SetNewPrevHash struct {
	ChannelID uint32 // channel_id U32
	JobID     uint32 // job_id U32
	PrevHash  U256   // prev_hash U256
	MinNTime  uint32 // min_ntime U32
	NBits     uint32 // nbits U32
}

// MsgType implements Message.
func (*SetNewPrevHash) MsgType() MsgType { return TypeSetNewPrevHash }

// MarshalTo implements Message.
func (m *SetNewPrevHash) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.U32(m.JobID)
	e.U256(m.PrevHash)
	e.U32(m.MinNTime)
	e.U32(m.NBits)
}

// UnmarshalFrom implements Message.
func (m *SetNewPrevHash) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.JobID = d.U32("job_id")
	m.PrevHash = d.U256("prev_hash")
	m.MinNTime = d.U32("min_ntime")
	m.NBits = d.U32("nbits")
}

// SetTarget is SetTarget (msg_type 0x21, Mining): it sets the channel's maximum target for jobs sent after it. It is a channel message (channel bit set).
type SetTarget struct {
	ChannelID     uint32 // channel_id U32
	MaximumTarget U256   // maximum_target U256
}

// MsgType implements Message.
func (*SetTarget) MsgType() MsgType { return TypeSetTarget }

// MarshalTo implements Message.
func (m *SetTarget) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.U256(m.MaximumTarget)
}

// UnmarshalFrom implements Message.
func (m *SetTarget) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.MaximumTarget = d.U256("maximum_target")
}

// SetCustomMiningJob is SetCustomMiningJob (msg_type 0x22, Mining): it declares a custom (JD) job on an extended channel. It is a channel message (channel bit set).
type SetCustomMiningJob struct {
	ChannelID                uint32 // channel_id U32
	RequestID                uint32 // request_id U32
	MiningJobToken           []byte // mining_job_token B0_255
	Version                  uint32 // version U32
	PrevHash                 U256   // prev_hash U256
	MinNTime                 uint32 // min_ntime U32
	NBits                    uint32 // nbits U32
	CoinbaseTxVersion        uint32 // coinbase_tx_version U32
	CoinbasePrefix           []byte // coinbase_prefix B0_255
	CoinbaseTxInputNSequence uint32 // coinbase_tx_input_nSequence U32
	CoinbaseTxOutputs        []byte // coinbase_tx_outputs B0_64K
	CoinbaseTxLocktime       uint32 // coinbase_tx_locktime U32
	MerklePath               []U256 // merkle_path SEQ0_255[U256]
}

// MsgType implements Message.
func (*SetCustomMiningJob) MsgType() MsgType { return TypeSetCustomMiningJob }

// MarshalTo implements Message.
func (m *SetCustomMiningJob) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.U32(m.RequestID)
	e.B0255("mining_job_token", m.MiningJobToken)
	e.U32(m.Version)
	e.U256(m.PrevHash)
	e.U32(m.MinNTime)
	e.U32(m.NBits)
	e.U32(m.CoinbaseTxVersion)
	e.B0255("coinbase_prefix", m.CoinbasePrefix)
	e.U32(m.CoinbaseTxInputNSequence)
	e.B064K("coinbase_tx_outputs", m.CoinbaseTxOutputs)
	e.U32(m.CoinbaseTxLocktime)
	e.Seq0255U256("merkle_path", m.MerklePath)
}

// UnmarshalFrom implements Message.
func (m *SetCustomMiningJob) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.RequestID = d.U32("request_id")
	m.MiningJobToken = d.B0255("mining_job_token")
	m.Version = d.U32("version")
	m.PrevHash = d.U256("prev_hash")
	m.MinNTime = d.U32("min_ntime")
	m.NBits = d.U32("nbits")
	m.CoinbaseTxVersion = d.U32("coinbase_tx_version")
	m.CoinbasePrefix = d.B0255("coinbase_prefix")
	m.CoinbaseTxInputNSequence = d.U32("coinbase_tx_input_nSequence")
	m.CoinbaseTxOutputs = d.B064K("coinbase_tx_outputs")
	m.CoinbaseTxLocktime = d.U32("coinbase_tx_locktime")
	m.MerklePath = d.Seq0255U256("merkle_path")
}

// SetCustomMiningJobSuccess is SetCustomMiningJob.Success (msg_type 0x23, Mining): it accepts a custom job. It is a channel message (channel bit set).
type SetCustomMiningJobSuccess struct {
	ChannelID uint32 // channel_id U32
	RequestID uint32 // request_id U32
	JobID     uint32 // job_id U32
}

// MsgType implements Message.
func (*SetCustomMiningJobSuccess) MsgType() MsgType { return TypeSetCustomMiningJobSuccess }

// MarshalTo implements Message.
func (m *SetCustomMiningJobSuccess) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.U32(m.RequestID)
	e.U32(m.JobID)
}

// UnmarshalFrom implements Message.
func (m *SetCustomMiningJobSuccess) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.RequestID = d.U32("request_id")
	m.JobID = d.U32("job_id")
}

// SetCustomMiningJobError is SetCustomMiningJob.Error (msg_type 0x24, Mining): it rejects a custom job. It is a channel message (channel bit set).
type SetCustomMiningJobError struct {
	ChannelID uint32 // channel_id U32
	RequestID uint32 // request_id U32
	ErrorCode string // error_code STR0_255
}

// MsgType implements Message.
func (*SetCustomMiningJobError) MsgType() MsgType { return TypeSetCustomMiningJobError }

// MarshalTo implements Message.
func (m *SetCustomMiningJobError) MarshalTo(e *Encoder) {
	e.U32(m.ChannelID)
	e.U32(m.RequestID)
	e.Str0255("error_code", m.ErrorCode)
}

// UnmarshalFrom implements Message.
func (m *SetCustomMiningJobError) UnmarshalFrom(d *Decoder) {
	m.ChannelID = d.U32("channel_id")
	m.RequestID = d.U32("request_id")
	m.ErrorCode = d.Str0255("error_code")
}

// SetGroupChannel is SetGroupChannel (msg_type 0x25, Mining): it assigns channels to a group channel.
type SetGroupChannel struct {
	GroupChannelID uint32   // group_channel_id U32
	ChannelIDs     []uint32 // channel_ids SEQ0_64K[U32]
}

// MsgType implements Message.
func (*SetGroupChannel) MsgType() MsgType { return TypeSetGroupChannel }

// MarshalTo implements Message.
func (m *SetGroupChannel) MarshalTo(e *Encoder) {
	e.U32(m.GroupChannelID)
	e.Seq064KU32("channel_ids", m.ChannelIDs)
}

// UnmarshalFrom implements Message.
func (m *SetGroupChannel) UnmarshalFrom(d *Decoder) {
	m.GroupChannelID = d.U32("group_channel_id")
	m.ChannelIDs = d.Seq064KU32("channel_ids")
}

// AllocateMiningJobToken is AllocateMiningJobToken (msg_type 0x50, JobDeclaration): it requests a mining job token.
type AllocateMiningJobToken struct {
	UserIdentifier string // user_identifier STR0_255
	RequestID      uint32 // request_id U32
}

// MsgType implements Message.
func (*AllocateMiningJobToken) MsgType() MsgType { return TypeAllocateMiningJobToken }

// MarshalTo implements Message.
func (m *AllocateMiningJobToken) MarshalTo(e *Encoder) {
	e.Str0255("user_identifier", m.UserIdentifier)
	e.U32(m.RequestID)
}

// UnmarshalFrom implements Message.
func (m *AllocateMiningJobToken) UnmarshalFrom(d *Decoder) {
	m.UserIdentifier = d.Str0255("user_identifier")
	m.RequestID = d.U32("request_id")
}

// AllocateMiningJobTokenSuccess is AllocateMiningJobToken.Success (msg_type 0x51, JobDeclaration): it grants a token; CoinbaseTxOutputs is CompactSize-prefixed and its first output pays the pool.
type AllocateMiningJobTokenSuccess struct {
	RequestID         uint32 // request_id U32
	MiningJobToken    []byte // mining_job_token B0_255
	CoinbaseTxOutputs []byte // coinbase_tx_outputs B0_64K
}

// MsgType implements Message.
func (*AllocateMiningJobTokenSuccess) MsgType() MsgType { return TypeAllocateMiningJobTokenSuccess }

// MarshalTo implements Message.
func (m *AllocateMiningJobTokenSuccess) MarshalTo(e *Encoder) {
	e.U32(m.RequestID)
	e.B0255("mining_job_token", m.MiningJobToken)
	e.B064K("coinbase_tx_outputs", m.CoinbaseTxOutputs)
}

// UnmarshalFrom implements Message.
func (m *AllocateMiningJobTokenSuccess) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U32("request_id")
	m.MiningJobToken = d.B0255("mining_job_token")
	m.CoinbaseTxOutputs = d.B064K("coinbase_tx_outputs")
}

// ProvideMissingTransactions is ProvideMissingTransactions (msg_type 0x55, JobDeclaration): it asks for transactions the server lacks, by position in the declared list.
type ProvideMissingTransactions struct {
	RequestID             uint32   // request_id U32
	UnknownTxPositionList []uint16 // unknown_tx_position_list SEQ0_64K[U16]
}

// MsgType implements Message.
func (*ProvideMissingTransactions) MsgType() MsgType { return TypeProvideMissingTransactions }

// MarshalTo implements Message.
func (m *ProvideMissingTransactions) MarshalTo(e *Encoder) {
	e.U32(m.RequestID)
	e.Seq064KU16("unknown_tx_position_list", m.UnknownTxPositionList)
}

// UnmarshalFrom implements Message.
func (m *ProvideMissingTransactions) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U32("request_id")
	m.UnknownTxPositionList = d.Seq064KU16("unknown_tx_position_list")
}

// ProvideMissingTransactionsSuccess is ProvideMissingTransactions.Success (msg_type 0x56, JobDeclaration): it supplies the requested transactions.
type ProvideMissingTransactionsSuccess struct {
	RequestID       uint32   // request_id U32
	TransactionList [][]byte // transaction_list SEQ0_64K[B0_16M]
}

// MsgType implements Message.
func (*ProvideMissingTransactionsSuccess) MsgType() MsgType {
	return TypeProvideMissingTransactionsSuccess
}

// MarshalTo implements Message.
func (m *ProvideMissingTransactionsSuccess) MarshalTo(e *Encoder) {
	e.U32(m.RequestID)
	e.Seq064KB016M("transaction_list", m.TransactionList)
}

// UnmarshalFrom implements Message.
func (m *ProvideMissingTransactionsSuccess) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U32("request_id")
	m.TransactionList = d.Seq064KB016M("transaction_list")
}

// DeclareMiningJob is DeclareMiningJob (msg_type 0x57, JobDeclaration): it declares a job; the coinbase prefix/suffix keep their BIP141 fields.
type DeclareMiningJob struct {
	RequestID        uint32 // request_id U32
	MiningJobToken   []byte // mining_job_token B0_255
	Version          uint32 // version U32
	CoinbaseTxPrefix []byte // coinbase_tx_prefix B0_64K
	CoinbaseTxSuffix []byte // coinbase_tx_suffix B0_64K
	WtxidList        []U256 // wtxid_list SEQ0_64K[U256]
	ExcessData       []byte // excess_data B0_64K
}

// MsgType implements Message.
func (*DeclareMiningJob) MsgType() MsgType { return TypeDeclareMiningJob }

// MarshalTo implements Message.
func (m *DeclareMiningJob) MarshalTo(e *Encoder) {
	e.U32(m.RequestID)
	e.B0255("mining_job_token", m.MiningJobToken)
	e.U32(m.Version)
	e.B064K("coinbase_tx_prefix", m.CoinbaseTxPrefix)
	e.B064K("coinbase_tx_suffix", m.CoinbaseTxSuffix)
	e.Seq064KU256("wtxid_list", m.WtxidList)
	e.B064K("excess_data", m.ExcessData)
}

// UnmarshalFrom implements Message.
func (m *DeclareMiningJob) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U32("request_id")
	m.MiningJobToken = d.B0255("mining_job_token")
	m.Version = d.U32("version")
	m.CoinbaseTxPrefix = d.B064K("coinbase_tx_prefix")
	m.CoinbaseTxSuffix = d.B064K("coinbase_tx_suffix")
	m.WtxidList = d.Seq064KU256("wtxid_list")
	m.ExcessData = d.B064K("excess_data")
}

// DeclareMiningJobSuccess is DeclareMiningJob.Success (msg_type 0x58, JobDeclaration): it accepts a declared job.
type DeclareMiningJobSuccess struct {
	RequestID         uint32 // request_id U32
	NewMiningJobToken []byte // new_mining_job_token B0_255
}

// MsgType implements Message.
func (*DeclareMiningJobSuccess) MsgType() MsgType { return TypeDeclareMiningJobSuccess }

// MarshalTo implements Message.
func (m *DeclareMiningJobSuccess) MarshalTo(e *Encoder) {
	e.U32(m.RequestID)
	e.B0255("new_mining_job_token", m.NewMiningJobToken)
}

// UnmarshalFrom implements Message.
func (m *DeclareMiningJobSuccess) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U32("request_id")
	m.NewMiningJobToken = d.B0255("new_mining_job_token")
}

// DeclareMiningJobError is DeclareMiningJob.Error (msg_type 0x59, JobDeclaration): it rejects a declared job.
type DeclareMiningJobError struct {
	RequestID    uint32 // request_id U32
	ErrorCode    string // error_code STR0_255
	ErrorDetails []byte // error_details B0_64K
}

// MsgType implements Message.
func (*DeclareMiningJobError) MsgType() MsgType { return TypeDeclareMiningJobError }

// MarshalTo implements Message.
func (m *DeclareMiningJobError) MarshalTo(e *Encoder) {
	e.U32(m.RequestID)
	e.Str0255("error_code", m.ErrorCode)
	e.B064K("error_details", m.ErrorDetails)
}

// UnmarshalFrom implements Message.
func (m *DeclareMiningJobError) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U32("request_id")
	m.ErrorCode = d.Str0255("error_code")
	m.ErrorDetails = d.B064K("error_details")
}

// PushSolution is PushSolution (msg_type 0x60, JobDeclaration): it forwards a block solution to the job declarator.
type PushSolution struct {
	Extranonce []byte // extranonce B0_32
	PrevHash   U256   // prev_hash U256
	Nonce      uint32 // nonce U32
	NTime      uint32 // ntime U32
	NBits      uint32 // nbits U32
	Version    uint32 // version U32
}

// MsgType implements Message.
func (*PushSolution) MsgType() MsgType { return TypePushSolution }

// MarshalTo implements Message.
func (m *PushSolution) MarshalTo(e *Encoder) {
	e.B032("extranonce", m.Extranonce)
	e.U256(m.PrevHash)
	e.U32(m.Nonce)
	e.U32(m.NTime)
	e.U32(m.NBits)
	e.U32(m.Version)
}

// UnmarshalFrom implements Message.
func (m *PushSolution) UnmarshalFrom(d *Decoder) {
	m.Extranonce = d.B032("extranonce")
	m.PrevHash = d.U256("prev_hash")
	m.Nonce = d.U32("nonce")
	m.NTime = d.U32("ntime")
	m.NBits = d.U32("nbits")
	m.Version = d.U32("version")
}

// CoinbaseOutputConstraints is CoinbaseOutputConstraints (msg_type 0x70, TemplateDistribution): it tells the template provider how much coinbase space and sigops to reserve.
type CoinbaseOutputConstraints struct {
	MaxAdditionalSize   uint32 // max_additional_size U32
	MaxAdditionalSigops uint16 // max_additional_sigops U16
}

// MsgType implements Message.
func (*CoinbaseOutputConstraints) MsgType() MsgType { return TypeCoinbaseOutputConstraints }

// MarshalTo implements Message.
func (m *CoinbaseOutputConstraints) MarshalTo(e *Encoder) {
	e.U32(m.MaxAdditionalSize)
	e.U16(m.MaxAdditionalSigops)
}

// UnmarshalFrom implements Message.
func (m *CoinbaseOutputConstraints) UnmarshalFrom(d *Decoder) {
	m.MaxAdditionalSize = d.U32("max_additional_size")
	m.MaxAdditionalSigops = d.U16("max_additional_sigops")
}

// NewTemplate is NewTemplate (msg_type 0x71, TemplateDistribution): it carries a block template; CoinbaseTxOutputs are concatenated TxOuts without a count.
type NewTemplate struct {
	TemplateID               uint64 // template_id U64
	FutureTemplate           bool   // future_template BOOL
	Version                  uint32 // version U32
	CoinbaseTxVersion        uint32 // coinbase_tx_version U32
	CoinbasePrefix           []byte // coinbase_prefix B0_255
	CoinbaseTxInputSequence  uint32 // coinbase_tx_input_sequence U32
	CoinbaseTxValueRemaining uint64 // coinbase_tx_value_remaining U64
	CoinbaseTxOutputsCount   uint32 // coinbase_tx_outputs_count U32
	CoinbaseTxOutputs        []byte // coinbase_tx_outputs B0_64K
	CoinbaseTxLocktime       uint32 // coinbase_tx_locktime U32
	MerklePath               []U256 // merkle_path SEQ0_255[U256]
}

// MsgType implements Message.
func (*NewTemplate) MsgType() MsgType { return TypeNewTemplate }

// MarshalTo implements Message.
func (m *NewTemplate) MarshalTo(e *Encoder) {
	e.U64(m.TemplateID)
	e.Bool(m.FutureTemplate)
	e.U32(m.Version)
	e.U32(m.CoinbaseTxVersion)
	e.B0255("coinbase_prefix", m.CoinbasePrefix)
	e.U32(m.CoinbaseTxInputSequence)
	e.U64(m.CoinbaseTxValueRemaining)
	e.U32(m.CoinbaseTxOutputsCount)
	e.B064K("coinbase_tx_outputs", m.CoinbaseTxOutputs)
	e.U32(m.CoinbaseTxLocktime)
	e.Seq0255U256("merkle_path", m.MerklePath)
}

// UnmarshalFrom implements Message.
func (m *NewTemplate) UnmarshalFrom(d *Decoder) {
	m.TemplateID = d.U64("template_id")
	m.FutureTemplate = d.Bool("future_template")
	m.Version = d.U32("version")
	m.CoinbaseTxVersion = d.U32("coinbase_tx_version")
	m.CoinbasePrefix = d.B0255("coinbase_prefix")
	m.CoinbaseTxInputSequence = d.U32("coinbase_tx_input_sequence")
	m.CoinbaseTxValueRemaining = d.U64("coinbase_tx_value_remaining")
	m.CoinbaseTxOutputsCount = d.U32("coinbase_tx_outputs_count")
	m.CoinbaseTxOutputs = d.B064K("coinbase_tx_outputs")
	m.CoinbaseTxLocktime = d.U32("coinbase_tx_locktime")
	m.MerklePath = d.Seq0255U256("merkle_path")
}

// TemplateSetNewPrevHash is SetNewPrevHash (msg_type 0x72, TemplateDistribution): it (Template Distribution) activates a template on a new chain tip.
type TemplateSetNewPrevHash struct {
	TemplateID      uint64 // template_id U64
	PrevHash        U256   // prev_hash U256
	HeaderTimestamp uint32 // header_timestamp U32
	NBits           uint32 // n_bits U32
	Target          U256   // target U256
}

// MsgType implements Message.
func (*TemplateSetNewPrevHash) MsgType() MsgType { return TypeTemplateSetNewPrevHash }

// MarshalTo implements Message.
func (m *TemplateSetNewPrevHash) MarshalTo(e *Encoder) {
	e.U64(m.TemplateID)
	e.U256(m.PrevHash)
	e.U32(m.HeaderTimestamp)
	e.U32(m.NBits)
	e.U256(m.Target)
}

// UnmarshalFrom implements Message.
func (m *TemplateSetNewPrevHash) UnmarshalFrom(d *Decoder) {
	m.TemplateID = d.U64("template_id")
	m.PrevHash = d.U256("prev_hash")
	m.HeaderTimestamp = d.U32("header_timestamp")
	m.NBits = d.U32("n_bits")
	m.Target = d.U256("target")
}

// RequestTransactionData is RequestTransactionData (msg_type 0x73, TemplateDistribution): it asks for a template's transactions.
type RequestTransactionData struct {
	TemplateID uint64 // template_id U64
}

// MsgType implements Message.
func (*RequestTransactionData) MsgType() MsgType { return TypeRequestTransactionData }

// MarshalTo implements Message.
func (m *RequestTransactionData) MarshalTo(e *Encoder) {
	e.U64(m.TemplateID)
}

// UnmarshalFrom implements Message.
func (m *RequestTransactionData) UnmarshalFrom(d *Decoder) {
	m.TemplateID = d.U64("template_id")
}

// RequestTransactionDataSuccess is RequestTransactionData.Success (msg_type 0x74, TemplateDistribution): it supplies a template's transactions.
type RequestTransactionDataSuccess struct {
	TemplateID      uint64   // template_id U64
	ExcessData      []byte   // excess_data B0_64K
	TransactionList [][]byte // transaction_list SEQ0_64K[B0_16M]
}

// MsgType implements Message.
func (*RequestTransactionDataSuccess) MsgType() MsgType { return TypeRequestTransactionDataSuccess }

// MarshalTo implements Message.
func (m *RequestTransactionDataSuccess) MarshalTo(e *Encoder) {
	e.U64(m.TemplateID)
	e.B064K("excess_data", m.ExcessData)
	e.Seq064KB016M("transaction_list", m.TransactionList)
}

// UnmarshalFrom implements Message.
func (m *RequestTransactionDataSuccess) UnmarshalFrom(d *Decoder) {
	m.TemplateID = d.U64("template_id")
	m.ExcessData = d.B064K("excess_data")
	m.TransactionList = d.Seq064KB016M("transaction_list")
}

// RequestTransactionDataError is RequestTransactionData.Error (msg_type 0x75, TemplateDistribution): it refuses a RequestTransactionData.
type RequestTransactionDataError struct {
	TemplateID uint64 // template_id U64
	ErrorCode  string // error_code STR0_255
}

// MsgType implements Message.
func (*RequestTransactionDataError) MsgType() MsgType { return TypeRequestTransactionDataError }

// MarshalTo implements Message.
func (m *RequestTransactionDataError) MarshalTo(e *Encoder) {
	e.U64(m.TemplateID)
	e.Str0255("error_code", m.ErrorCode)
}

// UnmarshalFrom implements Message.
func (m *RequestTransactionDataError) UnmarshalFrom(d *Decoder) {
	m.TemplateID = d.U64("template_id")
	m.ErrorCode = d.Str0255("error_code")
}

// SubmitSolution is SubmitSolution (msg_type 0x76, TemplateDistribution): it submits a solved block; CoinbaseTx is the full coinbase with witness.
type SubmitSolution struct {
	TemplateID      uint64 // template_id U64
	Version         uint32 // version U32
	HeaderTimestamp uint32 // header_timestamp U32
	HeaderNonce     uint32 // header_nonce U32
	CoinbaseTx      []byte // coinbase_tx B0_64K
}

// MsgType implements Message.
func (*SubmitSolution) MsgType() MsgType { return TypeSubmitSolution }

// MarshalTo implements Message.
func (m *SubmitSolution) MarshalTo(e *Encoder) {
	e.U64(m.TemplateID)
	e.U32(m.Version)
	e.U32(m.HeaderTimestamp)
	e.U32(m.HeaderNonce)
	e.B064K("coinbase_tx", m.CoinbaseTx)
}

// UnmarshalFrom implements Message.
func (m *SubmitSolution) UnmarshalFrom(d *Decoder) {
	m.TemplateID = d.U64("template_id")
	m.Version = d.U32("version")
	m.HeaderTimestamp = d.U32("header_timestamp")
	m.HeaderNonce = d.U32("header_nonce")
	m.CoinbaseTx = d.B064K("coinbase_tx")
}
