export {
  installCrd,
  kubernetes,
  kubernetesForTests,
  kindNodeImage,
  kubernetesTools,
  pinnedVersions,
  pollUntil,
  selectKubernetesProvider,
  type KubernetesCluster,
  type KubernetesProvider,
  type PinnedVersions,
} from './components/kubernetes.ts';
export {
  createTopic,
  listTransactions,
  parseTransactionList,
  type BrokerTransaction,
  kafka,
  kafkaClient,
  kafkaForTests,
  selectKafkaProvider,
  type KafkaBroker,
  type KafkaProvider,
  type SaslListener,
} from './components/kafka.ts';
export { availableForTests, waitFor, type Availability } from './components/component.ts';
export { cluster, clusterForTests, type PodCluster } from './components/cluster.ts';
export {
  buildImages,
  chartDir,
  installOperator,
  kafkaService,
  operatorImage,
  restrictedNamespace,
  runtimeGet,
  runtimeImage,
  runtimeToken,
  weirVersion,
} from './components/weir.ts';
