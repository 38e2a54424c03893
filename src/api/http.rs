//! HTTP shell: placeholder replaced below.
