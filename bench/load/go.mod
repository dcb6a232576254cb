module ciam-operator/bench/load

go 1.24
