//! gatewayd: model providers behind one streaming trait; the only process that reads API keys.
