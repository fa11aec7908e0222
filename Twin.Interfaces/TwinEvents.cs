namespace Twin;

/// <summary>
/// The event ids of every log message Factory Twin writes, in one table so that none repeats: a
/// thousand per area. Alert rules and log queries can rely on them.
/// </summary>
public static class TwinEvents
{
    // 1xxx: Grains
    public const int MachineGrainOffline = 1001;
    public const int MachineGrainHistoryFailed = 1004;
    public const int MachineGrainHeartbeatFailed = 1005;
    public const int StockBinGrainKpiFailed = 1103;
    public const int FactoryKpiGrainRebuilt = 1301;
    public const int FactoryKpiGrainRebuildFailed = 1302;
    public const int FactoryKpiGrainWakeFailed = 1303;
    public const int MaintenanceTicketGrainKpiFailed = 1311;
    public const int WorkOrderGrainKpiFailed = 1312;
    public const int LineGrainKpiFailed = 1313;
    public const int OutboxDeliveryFailed = 1401;
    public const int OutboxParked = 1402;
    public const int OutboxParkFailed = 1403;
    public const int OutboxCommitFailed = 1404;
    public const int WakeReminderFailed = 1405;
    public const int WakeReminderCommitFailed = 1406;
    public const int WakeSweepReadFailed = 1407;
    public const int WakeSweepCallsFailed = 1408;
    public const int ParkedReadingsDeliveryFailed = 1501;
    public const int PlanningGrainReplanned = 1601;
    public const int PlanningGrainReplanFailed = 1602;
    public const int PlanningGrainStale = 1603;
    public const int PlanningGrainKpiFailed = 1604;
    public const int PlanningGrainSolverFellBack = 1605;
    public const int PlanningGrainWhatIfMaterialUnread = 1606;
    public const int InspectionLogGrainKpiFailed = 1701;
    public const int RootCauseGrainHistoryFailed = 1702;
    public const int ProductGrainChangeApplied = 1801;
    public const int GenealogyGrainHistoryFailed = 1851;
    public const int GenealogyGrainPartsFailed = 1852;
    public const int ActionEffectGrainTracked = 1901;
    public const int ActionEffectGrainVerified = 1902;
    public const int ActionEffectGrainProbeFailed = 1903;
    public const int ActionEffectGrainHistoryFailed = 1904;

    // 2xxx: Storage
    public const int SqliteGrainStorageWriteFailed = 2001;
    public const int SqliteGrainStorageCheckpointFailed = 2002;
    public const int SqliteGrainStorageUpgraded = 2003;

    // 3xxx: Ingestion and MQTT
    public const int EmbeddedBrokerStarted = 3001;
    public const int EmbeddedBrokerQueueOverflow = 3002;
    public const int EmbeddedBrokerCannotAssignId = 3003;
    public const int EmbeddedBrokerPublishHeld = 3004;
    public const int EmbeddedBrokerPublishRefusedFull = 3005;
    public const int EmbeddedBrokerBacklogFailed = 3006;
    public const int MqttConnectionConnected = 3101;
    public const int MqttConnectionConnectFailed = 3102;
    public const int IngestLogCallFailed = 3103;
    public const int MqttConnectionAckFailed = 3104;
    public const int IngestPipelineRejected = 3105;
    public const int MqttConnectionDisconnectFailed = 3106;
    public const int MqttConnectionUnsubscribed = 3112;
    public const int MqttConnectionSessionRecordFailed = 3113;
    public const int MqttConnectionNoSubscriptionIdentifiers = 3114;
    public const int MqttConnectionRedelivery = 3115;
    public const int IngestPipelinePrepareCrashed = 3107;
    public const int IngestPipelineParked = 3110;
    public const int IngestPipelineParkFailed = 3111;
    public const int MqttIngestServiceDispatcherFailed = 3108;
    public const int MqttIngestServiceBatchFailed = 3109;
    public const int EmbeddedBrokerRefused = 3201;
    public const int EmbeddedBrokerPublishRefused = 3202;
    public const int EmbeddedBrokerSubscribeRefused = 3203;
    public const int EmbeddedBrokerClientIdTaken = 3204;
    public const int EmbeddedBrokerTopicNameInvalid = 3205;
    public const int ProfileProviderLoadFailed = 3301;

    // 34xx: Sparkplug B host and Unified Namespace topics (ingest and publish-back)
    public const int MqttConnectionPublishFailed = 3401;
    public const int SparkplugRebirthRequested = 3402;
    public const int SparkplugRebirthFailed = 3403;
    public const int LineMembershipLearnt = 3404;
    public const int LineMembershipRefused = 3405;
    public const int LineMembershipFailed = 3406;
    public const int MqttConnectionSubscriptionRefused = 3407;
    public const int UnsPublisherConnected = 3408;
    public const int UnsPublisherConnectFailed = 3409;
    public const int UnsPublisherPublishFailed = 3410;
    public const int UnsPublisherReadFailed = 3411;
    public const int UnsPublisherTopicsRefused = 3412;
    public const int UnsPublisherStaleCleared = 3413;
    public const int UnsPublisherDisconnectFailed = 3414;

    // 4xxx: HTTP API
    public const int TwinExceptionHandlerUnhandled = 4001;

    // 5xxx: Demo simulator
    public const int DemoFactorySimulatorStarted = 5001;
    public const int DemoFactorySimulatorPublishFailed = 5002;
    public const int DemoFactorySimulatorSeedFailed = 5003;

    // 6xxx: Gateway host
    public const int StartupBannerReady = 6001;
    public const int ClusterConnectionRetryRetrying = 6002;
    public const int StartupBannerSecurity = 6003;
    public const int LoopbackGuardOpen = 6004;

    // 7xxx: PostgreSQL schema
    public const int PostgresSchemaApplied = 7001;
    public const int PostgresSchemaUpToDate = 7002;
    public const int PostgresSchemaGateWaiting = 7003;
    public const int PostgresSchemaGateNewerSchema = 7004;

    // 8xxx: History
    public const int HistoryWriterDropped = 8001;
    public const int HistoryWriterWriteFailed = 8002;
    public const int HistoryWriterRecovered = 8003;
    public const int HistoryWriterPurged = 8004;
    public const int HistoryWriterCleanupFailed = 8005;
    public const int HistoryWriterBadKey = 8006;

    // 9xxx: Live feed
    public const int OutletSendFailed = 9001;
    public const int OutletSlowClient = 9002;
    public const int LivePublishFailed = 9003;
    public const int LiveSubscribeFailed = 9004;
    public const int LiveResubscribed = 9005;
}
