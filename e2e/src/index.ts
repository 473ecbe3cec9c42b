export {
  installCrd,
  kubernetes,
  kubernetesForTests,
  kubernetesTools,
  pinnedVersions,
  pollUntil,
  selectKubernetesProvider,
  type Availability,
  type KubernetesCluster,
  type KubernetesProvider,
  type PinnedVersions,
} from './components/kubernetes.ts';
export {
  createTopic,
  kafka,
  kafkaClient,
  kafkaForTests,
  selectKafkaProvider,
  type KafkaBroker,
  type KafkaProvider,
} from './components/kafka.ts';
