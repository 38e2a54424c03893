# One image for every role (controller, crypto, api, plugin); the args pick it.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin kube-kms

# glibc for AWS-LC and for dlopen of PKCS#11 modules; uid 65532, no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/kube-kms /usr/local/bin/kube-kms
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kube-kms"]
