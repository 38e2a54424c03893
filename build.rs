//! Compiles the crypto service's and the KMS v2 plugin's protobufs with
//! protox (a pure-Rust protobuf compiler), so building needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/kubekms/crypto/v1/crypto.proto",
        "proto/k8s/kms/v2/api.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
