package client

import "sort"

func sortProgress(list []BucketProgress) {
	sort.Slice(list, func(i, j int) bool {
		if list[i].Priority != list[j].Priority {
			return list[i].Priority < list[j].Priority
		}
		return list[i].Bucket < list[j].Bucket
	})
}
