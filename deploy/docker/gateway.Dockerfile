# Factory Twin gateway (HTTP API, SignalR, dashboard, MQTT consumer). Build from the repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t factory-twin/gateway:1.0.0 .
# The dashboard bundle is committed in Twin.Gateway/wwwroot; the build uses it as it is (its
# sources are not in the build context and the SDK image has no npm).
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
COPY Twin.Ingestion/Twin.Ingestion.csproj Twin.Ingestion/
COPY Twin.Hosting/Twin.Hosting.csproj Twin.Hosting/
COPY Twin.Silo/Twin.Silo.csproj Twin.Silo/
COPY Twin.Gateway/Twin.Gateway.csproj Twin.Gateway/
RUN dotnet restore Twin.Gateway/Twin.Gateway.csproj -a $TARGETARCH
COPY Twin.Interfaces/ Twin.Interfaces/
COPY Twin.Grains/ Twin.Grains/
COPY Twin.Planning/ Twin.Planning/
COPY Twin.Ingestion/ Twin.Ingestion/
COPY Twin.Hosting/ Twin.Hosting/
COPY Twin.Silo/ Twin.Silo/
COPY Twin.Gateway/ Twin.Gateway/
RUN dotnet publish Twin.Gateway/Twin.Gateway.csproj -c Release -a $TARGETARCH --self-contained false -o /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0.12 AS final
WORKDIR /app
COPY --from=build /app .
# The image's non-root `app` user (APP_UID); numeric, so Kubernetes can verify runAsNonRoot.
USER 1654
# 5080 HTTP API, SignalR, dashboard, health and /metrics.
EXPOSE 5080
# Every interface instead of appsettings.json's 127.0.0.1 (embedded default); drop the base
# image's default HTTP port 8080. `Urls` wins over appsettings.json, ASPNETCORE_URLS would not.
ENV Urls=http://+:5080 \
    ASPNETCORE_HTTP_PORTS=
ENTRYPOINT ["dotnet", "Twin.Gateway.dll"]
