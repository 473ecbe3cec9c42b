import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serviceProxyUrl, serviceUrl } from './service-proxy.ts';

describe('reaching the runtime', () => {
  it('in-cluster through the coordinator Service', () => {
    assert.equal(serviceUrl({ namespace: 'shop', name: 'orders' }), 'http://orders-coordinator.shop.svc:8081');
  });
  it('from outside through the API server service proxy', () => {
    assert.equal(
      serviceProxyUrl('https://10.0.0.1:6443/', { namespace: 'shop', name: 'orders' }, '/v1/job'),
      'https://10.0.0.1:6443/api/v1/namespaces/shop/services/http:orders-coordinator:8081/proxy/v1/job',
    );
  });
});
