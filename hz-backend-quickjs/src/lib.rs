//! hz-backend-quickjs
