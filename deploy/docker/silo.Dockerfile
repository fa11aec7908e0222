# Factory Twin silo. Build from the repository root:
#   docker build -f deploy/docker/silo.Dockerfile -t factory-twin/silo:1.0.0 .
# Runs `dotnet Twin.Silo.dll`; `migrate` as the argument applies the database schema and exits.
# Base images are pinned to exact versions (the SDK of global.json, the runtime it ships); pin them
# by digest in production (docs/DEPLOY.md).

FROM mcr.microsoft.com/dotnet/sdk:10.0.401 AS build
# The image's architecture (BuildKit): native libraries (OR-Tools, SQLite) for it alone, not for every platform.
ARG TARGETARCH
WORKDIR /src
# Restore from the project files alone, so this layer is rebuilt only when a dependency changes.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY Twin.Interfaces/Twin.Interfaces.csproj Twin.Interfaces/
COPY Twin.Grains/Twin.Grains.csproj Twin.Grains/
COPY Twin.Planning/Twin.Planning.csproj Twin.Planning/
COPY Twin.Hosting/Twin.Hosting.csproj Twin.Hosting/
COPY Twin.Silo/Twin.Silo.csproj Twin.Silo/
RUN dotnet restore Twin.Silo/Twin.Silo.csproj -a $TARGETARCH
COPY Twin.Interfaces/ Twin.Interfaces/
COPY Twin.Grains/ Twin.Grains/
COPY Twin.Planning/ Twin.Planning/
COPY Twin.Hosting/ Twin.Hosting/
COPY Twin.Silo/ Twin.Silo/
RUN dotnet publish Twin.Silo/Twin.Silo.csproj -c Release -a $TARGETARCH --self-contained false -o /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0.12 AS final
WORKDIR /app
COPY --from=build /app .
# The image's non-root `app` user (APP_UID); numeric, so Kubernetes can verify runAsNonRoot.
USER 1654
# 11111 silo to silo, 30000 Orleans clients (gateways), 8081 health and /metrics.
EXPOSE 11111 30000 8081
# Health and metrics on every interface; drop the base image's default HTTP port 8080.
ENV Urls=http://+:8081 \
    ASPNETCORE_HTTP_PORTS=
ENTRYPOINT ["dotnet", "Twin.Silo.dll"]
